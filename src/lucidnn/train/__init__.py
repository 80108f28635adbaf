"""Training: the Trainer/fit loop, callbacks, metrics and resumable checkpoints."""

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
