"""Training: the Trainer/fit loop, callbacks, metrics and resumable checkpoints."""

from lucidnn.train.bptt import (
    BPTTResult,
    BPTTTrainer,
    RecurrentReadout,
    bptt,
    hidden_gradient_norms,
    truncated_bptt,
)
from lucidnn.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    ModelCheckpoint,
    SchedulerStep,
    TerminateOnNaN,
)
from lucidnn.train.checkpoint import IncompleteCheckpointError, load_training_state, save_training_state
from lucidnn.train.loop import Trainer, evaluate, fit, predict
from lucidnn.train.metrics import accuracy, confusion_matrix, perplexity, top_k_accuracy
from lucidnn.train.rtrl import RTRL, RTRLResult, rtrl
