"""The one training loop, its configuration, and the device choice.

The dataset sits as uint8 tensors on the training device; an epoch is a
``randperm`` and its batches are slices of it, converted to float per batch.
No DataLoader, no per-image Python.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import TRAIN_IMAGES, MnistData
from .evaluate import accuracy
from .i18n import N_, Message, Refused
from .models import build_model, check_model_args, list_models, model_spec, to_input

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "onecycle")
LR_RANGE = (1e-7, 1e4)    # outside it nothing trains: no step moves a weight (above: divergence at once)
SEED_MAX = 2**63 - 1       # torch.manual_seed takes a 64-bit seed
_KIND_WORDS = {int: Message(N_("an integer")), float: Message(N_("a number")), str: Message(N_("a word")),
               bool: Message(N_("true or false"))}
# The devices a model can train on; torch.device also takes names (xla, meta, ...) that cannot.
_DEVICE_TYPES = ("cpu", "cuda", "mps")
# A model's layers draw their first weights from torch's one global generator: one thread at a time seeds it
# and builds a model (a training, or mnist_core.script writing one out), so trainings in parallel threads (the
# thread backend's slots) each start from the weights of their own seed.
GLOBAL_RNG = threading.Lock()


def _is_device_name(name: str) -> bool:
    if name == "auto":
        return True
    try:
        device = torch.device(name)
    except RuntimeError:
        return False
    return device.type in _DEVICE_TYPES


def _field(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class TrainConfig:
    """One experiment. The defaults are the tutorial's exactly. Frozen: change one with
    ``dataclasses.replace(config, lr=...)``, so a shared default can never be altered."""

    model: str = _field("linear", "architecture from the model registry", choices=list_models)
    optimizer: str = _field("sgd", "sgd (the tutorial's), momentum (SGD, momentum 0.9, Nesterov) or adam", choices=lambda: OPTIMIZERS)
    lr: float = _field(0.1, "learning rate (peak rate with the onecycle schedule)")
    batch_size: int = _field(1000, "images per mini-batch; the last partial batch of an epoch is dropped")
    epochs: int = _field(10, "passes over the training set")
    seed: int = _field(0, "seeds weights, shuffling and augmentation: same seed on the CPU, same numbers")
    device: str = _field("auto", "auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N or mps")
    weight_decay: float = _field(0.0, "L2 penalty added by the optimizer")
    schedule: str = _field("constant", "constant learning rate, or onecycle (warm up, then anneal to ~0)", choices=lambda: SCHEDULES)
    label_smoothing: float = _field(0.0, "cross-entropy label smoothing (0 = the tutorial's plain cross-entropy)")
    augment: bool = _field(False, "random affine (rotation, scale, shift) of each batch, on the training device")
    validation_size: int = _field(0, "hold out this many training images to choose settings on, never the test set")
    eval_every_epoch: bool = _field(True, "report test accuracy after every epoch (else after the last only)")
    evaluate_test: bool = _field(True, "score the test set at all; off when choosing settings, so the test set is never seen")
    width: int = _field(0, "model width (hidden units / channels); 0 = the model's default")

    def validate(self) -> None:
        """Raise :class:`~mnist_core.i18n.Refused` (a ValueError) naming the first field that cannot work
        (checked by name and range only: whether a named device is present is :func:`resolve_device`'s question)."""
        for f in fields(self):
            value, kind = getattr(self, f.name), {"int": int, "float": float, "str": str, "bool": bool}[f.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise Refused(N_("{name} must be {kind}, got {value!r}"), name=f.name, kind=_KIND_WORDS[kind], value=value)
        if self.model not in list_models():
            raise Refused(N_("unknown model {model!r}; choose one of {choices}"), model=self.model,
                          choices=", ".join(list_models()))
        if self.optimizer not in OPTIMIZERS:
            raise Refused(N_("unknown optimizer {optimizer!r}; choose one of {choices}"), optimizer=self.optimizer,
                          choices=", ".join(OPTIMIZERS))
        if self.schedule not in SCHEDULES:
            raise Refused(N_("unknown schedule {schedule!r}; choose one of {choices}"), schedule=self.schedule,
                          choices=", ".join(SCHEDULES))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise Refused(N_("lr must be a positive number, got {lr}"), lr=self.lr)
        if not LR_RANGE[0] <= self.lr <= LR_RANGE[1]:
            raise Refused(N_("lr must be between {low:g} and {high:g}, got {lr:g}"), low=LR_RANGE[0], high=LR_RANGE[1],
                          lr=self.lr)
        if self.batch_size < 1:
            raise Refused(N_("batch_size must be at least 1, got {batch_size}"), batch_size=self.batch_size)
        if self.epochs < 1:
            raise Refused(N_("epochs must be at least 1, got {epochs}"), epochs=self.epochs)
        if not 0 <= self.seed <= SEED_MAX:
            raise Refused(N_("seed must be between 0 and 2**63 - 1, got {seed}"), seed=self.seed)
        if not _is_device_name(self.device):
            raise Refused(N_("unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps"), device=self.device)
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise Refused(N_("weight_decay must be a number >= 0, got {weight_decay}"), weight_decay=self.weight_decay)
        if not 0 <= self.label_smoothing < 1:  # False for NaN too
            raise Refused(N_("label_smoothing must be in [0, 1), got {label_smoothing}"),
                          label_smoothing=self.label_smoothing)
        if not 0 <= self.validation_size < TRAIN_IMAGES or self.width < 0:
            raise Refused(N_("validation_size must be in [0, {images}) and width >= 0"), images=TRAIN_IMAGES)
        if self.width and model_spec(self.model).default_width is None:
            raise Refused(N_("model {model!r} has no width to set; leave width at 0"), model=self.model)
        check_model_args(self.model, self.model_args())

    def model_args(self) -> dict:
        return {"width": self.width} if self.width else {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict, ignoring keys this version does not know."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


# Good settings per model, chosen on a validation split carved from the training set, never
# on the test set (benchmarks/README.md has the search). The tutorial's stay the default.
PRESETS: dict[str, dict] = {
    "tutorial": {},
    "mlp": dict(model="mlp", optimizer="adam", lr=0.002, schedule="onecycle", batch_size=256, epochs=6,
                label_smoothing=0.1),
    "cnn-fast": dict(model="cnn", optimizer="adam", lr=0.01, schedule="onecycle", batch_size=256, epochs=2,
                     label_smoothing=0.1),
    "cnn-best": dict(model="cnn", width=32, optimizer="adam", lr=0.01, schedule="onecycle", batch_size=256,
                     epochs=15, label_smoothing=0.1, augment=True),
}


def preset_config(name: str, **overrides) -> TrainConfig:
    """A TrainConfig from a named preset, with any fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TrainConfig(**{**PRESETS[name], **overrides})


def preset_of(model: str) -> str:
    """The preset a model brings when it is chosen alone (``--model cnn``, or the page's model box): the
    one its registration names, else the tutorial's (whose settings then train this model)."""
    return model_spec(model).preset or "tutorial"


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then MPS, else CPU. A named device that is absent is an error, not a crash later."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise Refused(N_("unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps"), device=name) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Refused(N_("device 'cuda' asked for, but no CUDA GPU is available here; use auto or cpu"))
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise Refused(N_("no GPU {index}: this machine has {count}"), index=device.index, count=torch.cuda.device_count())
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise Refused(N_("device 'mps' asked for, but MPS is not available here; use auto or cpu"))
    return device


def available_devices() -> list[str]:
    """Device names worth offering a user on this machine."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] if torch.cuda.device_count() == 1 else [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


@dataclass
class StartFrom:
    """Fine-tuning: begin from ``state_dict`` (a model of the config's architecture) and add ``images``
    (uint8 (N, 28, 28)) with ``labels`` to the training set, each repeated ``repeat`` times per epoch,
    so that a few examples weigh as much as the many MNIST digits beside them."""

    state_dict: dict
    images: "torch.Tensor | None" = None    # uint8 (N, 28, 28); a NumPy array works too
    labels: "torch.Tensor | None" = None
    repeat: int = 1
    augment_examples: bool = True   # random affine of these examples (MNIST's own follow config.augment)


@dataclass
class EpochReport:
    """What ``on_epoch`` receives after each epoch."""

    epoch: int            # 1-based
    cost: float           # mean batch cost over the epoch (the tutorial's avg_cost)
    test_accuracy: float | None  # fraction; None when not evaluated this epoch
    val_accuracy: float | None   # fraction on the validation split, when there is one
    seconds: float        # training seconds so far (evaluation excluded)
    epochs: int           # total planned


@dataclass
class TrainResult:
    model: nn.Module
    config: TrainConfig
    device: str
    epoch_costs: list[float] = field(default_factory=list)
    test_accuracies: list[float | None] = field(default_factory=list)
    val_accuracies: list[float | None] = field(default_factory=list)
    train_seconds: float = 0.0
    status: str = "completed"   # completed | stopped | diverged

    @property
    def test_accuracy(self) -> float | None:
        done = [a for a in self.test_accuracies if a is not None]
        return done[-1] if done else None


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "momentum":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
                  scale: float = 0.1, shift: float = 0.1) -> torch.Tensor:
    """Batched random rotation / scale / shift of (B, 1, 28, 28), on x's device."""
    B = x.shape[0]
    r = torch.rand(B, 4, device=x.device, generator=generator) * 2 - 1   # (B, 4) in [-1, 1]
    angle = r[:, 0] * math.radians(degrees)
    s = 1 + r[:, 1] * scale
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([
        torch.stack([cos, -sin, r[:, 2] * shift * 2], dim=1),
        torch.stack([sin, cos, r[:, 3] * shift * 2], dim=1),
    ], dim=1)  # (B, 2, 3), shift in grid units ([-1, 1] spans the image)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def validation_split(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(validation indices, training indices) into the ``n`` training images: ``size`` held out.

    A fixed split, the same for every seed, so settings are compared on the same images.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(12345))
    return order[:size], order[size:]


def train(config: TrainConfig, data: MnistData,
          on_epoch: Callable[[EpochReport], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          on_batch: Callable[[int, int], None] | None = None,
          start: "StartFrom | None" = None) -> TrainResult:
    """Train ``config.model`` on ``data``; the one loop for every model.

    ``on_epoch`` is called after each epoch with an :class:`EpochReport`;
    ``should_stop`` is polled between batches and ends training early when it
    returns True (the result's status is then ``stopped``); ``on_batch(done,
    total)`` is called after each batch with the batches done and planned. A cost that turns
    NaN or infinite ends training with status ``diverged``. ``start`` fine-tunes: the model
    begins from its weights and its examples join the training set (see :class:`StartFrom`).
    """
    config.validate()
    device = resolve_device(config.device)
    with GLOBAL_RNG:
        torch.manual_seed(config.seed)  # weights are initialised on the CPU: same on every device
        model = build_model(config.model, **config.model_args())
    if start is not None:
        model.load_state_dict(start.state_dict)
    # channels_last: the faster layout for the convolutions on CPU; a no-op for the others
    model.to(device, memory_format=torch.channels_last)
    generator = torch.Generator(device=device).manual_seed(config.seed)

    data = data.to(device)
    train_x, train_y = data.train_images, data.train_labels
    val_x = val_y = None
    if config.validation_size:
        val_idx, train_idx = validation_split(len(train_x), config.validation_size)
        val_idx, train_idx = val_idx.to(device), train_idx.to(device)
        val_x, val_y = train_x[val_idx], train_y[val_idx]
        train_x, train_y = train_x[train_idx], train_y[train_idx]
    extra_from = None  # index where added examples begin, when they alone are augmented
    if start is not None and start.images is not None and len(start.images):
        extra_x = torch.as_tensor(start.images, dtype=torch.uint8).to(device).repeat(start.repeat, 1, 1)
        extra_y = torch.as_tensor(start.labels, dtype=torch.long).to(device).repeat(start.repeat)
        extra_from = len(train_x) if start.augment_examples else None
        train_x, train_y = torch.cat([train_x, extra_x]), torch.cat([train_y, extra_y])

    n = len(train_x)
    batches = n // config.batch_size
    if batches == 0:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n} training images")
    optimizer = make_optimizer(config, model.parameters())
    scheduler = None
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * batches, pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    result = TrainResult(model=model, config=config, device=str(device))
    seconds = 0.0
    for epoch in range(1, config.epochs + 1):
        _sync(device)
        epoch_began = time.perf_counter()
        model.train()
        perm = torch.randperm(n, device=device, generator=generator)
        total = torch.zeros((), device=device)
        done = 0
        for b in range(batches):
            if should_stop is not None and should_stop():
                result.status = "stopped"
                break
            idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
            # index_select: a plain gather, cheaper than fancy indexing
            x = to_input(train_x.index_select(0, idx))       # (B, 1, 28, 28)
            x = x.contiguous(memory_format=torch.channels_last)
            if config.augment:
                x = random_affine(x, generator)
            elif extra_from is not None:
                own = idx >= extra_from                          # the added examples in this batch
                if own.any():
                    x = x.clone()
                    x[own] = random_affine(x[own], generator)
            cost = loss_fn(model(x), train_y.index_select(0, idx))
            optimizer.zero_grad(set_to_none=True)
            cost.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += cost.detach()
            done += 1
            if on_batch is not None:
                on_batch((epoch - 1) * batches + done, config.epochs * batches)
        _sync(device)
        seconds += time.perf_counter() - epoch_began
        if done == 0:
            break
        avg_cost = (total / done).item()
        result.epoch_costs.append(avg_cost)
        result.train_seconds = seconds
        if not math.isfinite(avg_cost):
            result.status = "diverged"
        last = epoch == config.epochs or result.status != "completed"
        diverged = result.status == "diverged"
        model.eval()  # evaluation leaves the mode alone: set it here, back to train() next epoch
        score_test = config.evaluate_test and (config.eval_every_epoch or last) and not diverged
        test_acc = accuracy(model, data.test_images, data.test_labels) if score_test else None
        val_acc = accuracy(model, val_x, val_y) if val_x is not None and not diverged else None
        result.test_accuracies.append(test_acc)
        result.val_accuracies.append(val_acc)
        if on_epoch is not None:
            on_epoch(EpochReport(epoch, avg_cost, test_acc, val_acc, seconds, config.epochs))
        if result.status != "completed":
            break
    model.eval()
    return result


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work so the clock reads true time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
