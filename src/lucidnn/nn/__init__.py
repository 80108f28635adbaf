"""Neural-network building blocks: Module, Parameter, containers and layers (PyTorch's conventions)."""

from lucidnn.nn import init
from lucidnn.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    PReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Swish,
    Tanh,
)
from lucidnn.nn.attention import Attention
from lucidnn.nn.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from lucidnn.nn.cells_extra import RecurrentMLPCell, SecondOrderCell, TimeDelay
from lucidnn.nn.container import ModuleDict, ModuleList, Sequential
from lucidnn.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from lucidnn.nn.dropout import Dropout, Dropout2d
from lucidnn.nn.embedding import Embedding
from lucidnn.nn.linear import Flatten, Identity, Linear
from lucidnn.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from lucidnn.nn.module import IncompatibleKeys, Module, RemovableHandle, StateDictError
from lucidnn.nn.narx import AR, NARXCell, lagged_design_matrix
from lucidnn.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from lucidnn.nn.parameter import Parameter
from lucidnn.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    GlobalAvgPool2d,
    L2Pool1d,
    L2Pool2d,
    LocalResponseNorm,
    LPPool1d,
    LPPool2d,
    MaxPool1d,
    MaxPool2d,
)
from lucidnn.nn.recurrent import Recurrent
from lucidnn.nn.rnn import GRU, LSTM, RNN
