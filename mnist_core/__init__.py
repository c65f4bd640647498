"""mnist_core: the engine under the MNIST Playground.

Data, models, the one training loop, evaluation, drawn-digit preprocessing
and checkpoints, in plain PyTorch. Usable from Python, from the dashboard
(``streamlit_app.py``) and from the terminal (``python -m mnist_core``).
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import DataError, MnistData, load_mnist
from .evaluate import EvalResult, evaluate, predict, read_number
from .models import build_model, list_models
from .preprocess import to_mnist
from .train import EpochReport, PRESETS, TrainConfig, TrainResult, preset_config, resolve_device, train

__all__ = [
    "CheckpointError", "DataError", "EpochReport", "EvalResult", "MnistData", "PRESETS",
    "TrainConfig", "TrainResult", "build_model", "evaluate", "list_models", "load_checkpoint",
    "load_mnist", "predict", "preset_config", "read_number", "resolve_device", "save_checkpoint", "to_mnist", "train",
]
