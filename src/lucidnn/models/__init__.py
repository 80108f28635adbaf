"""The model zoo: ready-made architectures, built by name through a small registry.

``list_models()`` says what is there, ``get_model(name, **kwargs)`` builds one and
``register_model(name)`` adds a builder. Each model lives in its own file and remembers
its constructor arguments (``model.config``, JSON-able) and registry name
(``model.model_name``), so ``get_model(model.model_name, **model.config)`` rebuilds it.

Example:
    >>> from lucidnn.models import get_model, list_models
    >>> dict(list_models())["mlp"]
    'A multi-layer perceptron classifier: Flatten, then Linear/activation blocks, then Linear logits.'
    >>> model = get_model("mlp", in_features=64, hidden_sizes=(32,), num_classes=10)
    >>> net = get_model("resnet_small", input_shape=(3, 32, 32), num_classes=10)
"""

# importing a model's file registers it
from lucidnn.models.alexnet import AlexNet
from lucidnn.models.alphago import AlphaGoPolicy
from lucidnn.models.char_rnn import CharRNN
from lucidnn.models.gan import GAN, DCDiscriminator, DCGenerator, MLPDiscriminator, MLPGenerator
from lucidnn.models.googlenet import GoogLeNet, Inception
from lucidnn.models.lenet import LeNet5
from lucidnn.models.mlp import MLP
from lucidnn.models.registry import get_model, list_models, register_model
from lucidnn.models.resnet import BasicBlock, Bottleneck, ResNet
from lucidnn.models.seq2seq import EncoderDecoder
from lucidnn.models.sequence import SequenceClassifier, SequenceTagger

__all__ = ["GAN", "MLP", "AlexNet", "AlphaGoPolicy", "BasicBlock", "Bottleneck", "CharRNN", "DCDiscriminator",
           "DCGenerator", "EncoderDecoder", "GoogLeNet", "Inception", "LeNet5", "MLPDiscriminator", "MLPGenerator",
           "ResNet", "SequenceClassifier", "SequenceTagger", "get_model", "list_models",
           "register_model"]
