"""The code behind a run: any TrainConfig written out as the tutorial's plain PyTorch script, or notebook.

The script is shaped like the tutorial the project grew from (torchvision's MNIST and a DataLoader,
its variable names, its ``Epoch: 001 cost = ...`` lines), so a learner can read a run of the page as
code and run it anywhere with torch and torchvision alone. Nothing in it is typed per preset or per
model: the model is built by the registry and its layers are written from their own reprs (checked
to rebuild the same layers), so a new model or setting needs no change here. It is the readable
way, not the fast one: the DataLoader converts every image in Python (benchmarks/README.md).
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .models import Normalize, build_model
from .train import GLOBAL_RNG, TrainConfig

TRAIN_IMAGES = 60000
TEST_IMAGES = 10000
EVAL_CHUNK = 1000  # test images per forward pass, so a wide CNN's feature maps fit in memory
# What train.py's loop uses, written into the script (tests/test_script.py checks that they agree).
ONECYCLE_PCT_START = 0.25   # the one-cycle schedule's warm-up fraction
VALIDATION_SEED = 12345     # the generator of validation_split's fixed split


@dataclass(frozen=True)
class Part:
    """One step of the script: a notebook's markdown cell (``text``) and code cell (``code``)."""

    title: str
    text: str
    code: str


def script_for(config: TrainConfig) -> str:
    """The whole script for ``config``: a docstring, then each step under a banner."""
    parts = script_parts(config)
    body = "\n\n".join(f"# ---- {i}. {p.title} ----\n{p.code}" for i, p in enumerate(parts, 1))
    return f'"""{summary(config)}\n\n{_RUN_NOTE}\n"""\n\n{body}\n'


def notebook_for(config: TrainConfig) -> bytes:
    """The same steps as a Jupyter notebook (nbformat v4): a markdown cell explaining each code cell."""
    import nbformat  # only a notebook needs it: the page and the CLI start without

    # Cell ids of our own (nbformat draws random ones): the same settings give the same file.
    cells = [nbformat.v4.new_markdown_cell(f"# {summary(config)}\n\n{_RUN_NOTE}", id="title")]
    for i, part in enumerate(script_parts(config), 1):
        cells.append(nbformat.v4.new_markdown_cell(f"## {i}. {part.title}\n\n{part.text}", id=f"step-{i}-about"))
        cells.append(nbformat.v4.new_code_cell(part.code, id=f"step-{i}-code"))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(notebook)
    return nbformat.writes(notebook).encode()


_RUN_NOTE = ("Plain PyTorch and torchvision, nothing else: written by the MNIST Playground from its settings. "
             "MNIST is downloaded to `data_root` on the first run.")


def summary(config: TrainConfig) -> str:
    """One line naming the run's settings."""
    optimizer = {"sgd": "SGD", "momentum": "SGD with Nesterov momentum 0.9", "adam": "Adam"}[config.optimizer]
    words = [f"the `{config.model}` model" + (f" (width {config.width})" if config.width else ""),
             f"{optimizer}, learning rate {config.lr:g}" + (", one-cycle schedule" if config.schedule == "onecycle" else ""),
             f"batches of {config.batch_size}", f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}"]
    if config.weight_decay:
        words.append(f"weight decay {config.weight_decay:g}")
    if config.label_smoothing:
        words.append(f"label smoothing {config.label_smoothing:g}")
    if config.augment:
        words.append("random affine augmentation")
    return "MNIST digits with PyTorch: " + ", ".join(words) + "."


def script_parts(config: TrainConfig) -> list[Part]:
    """The script's steps in order, each with its explanation."""
    config.validate()
    layers, normalization = model_code(_registry_model(config))
    return [_settings(config), _device(config), _data(config, normalization), _model(layers),
            _loss_and_optimizer(config), _training(config),
            *([_accuracy(config, normalization)] if config.evaluate_test or config.validation_size else [])]


# ---- the model: the registry's layers as nn.Sequential code ----

def _registry_model(config: TrainConfig) -> nn.Module:
    # The weights' initialisation draws from the global generator: leave it as the caller had it, and hold it
    # (a training in another thread may be seeding it).
    with GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        return build_model(config.model, **config.model_args())


def model_code(model: nn.Module) -> tuple[str, tuple[float, float] | None]:
    """``model`` as ``nn.Sequential(...)`` code, one layer a line with its output's shape, and the
    (mean, std) of its leading input normalisation (None when it is the identity), which the script
    applies in the DataLoader's transform instead. Raise ValueError for a model that is not a flat
    ``nn.Sequential`` of ``torch.nn`` layers, or whose code would not rebuild the same layers."""
    if type(model) is not nn.Sequential:
        raise ValueError(f"cannot write {type(model).__name__} as code: only an nn.Sequential of torch.nn layers")
    layers = list(model)
    normalization = None
    if layers and isinstance(layers[0], Normalize):
        first = layers.pop(0)
        if not first.identity:
            normalization = (_short_float(first.mean), _short_float(first.std))
    lines = []
    x = torch.zeros(2, 1, 28, 28)
    with torch.no_grad():
        for i, layer in enumerate(layers):
            if not type(layer).__module__.startswith("torch.nn.") or len(list(layer.children())):
                raise ValueError(f"cannot write the layer {type(layer).__name__} as code: not a plain torch.nn layer")
            y = layer.eval()(x)
            lines.append(f"    {_layer_code(layer)},  # {_shape_comment(layer, x, y, i == len(layers) - 1)}")
            x = y
    code = "nn.Sequential(\n" + "\n".join(lines) + "\n)"
    _check_rebuilds(layers, code)
    return code, normalization


def _short_float(value: torch.Tensor) -> float:
    """A float32 buffer as its shortest decimal (0.1307, not 0.13070000708103180)."""
    return float(str(np.float32(value.item())))


def _layer_code(layer: nn.Module) -> str:
    """``nn.<repr>`` without the keyword arguments that equal the constructor's defaults."""
    call = ast.parse(repr(layer), mode="eval").body
    defaults = {name: p.default for name, p in inspect.signature(type(layer)).parameters.items()
                if p.default is not inspect.Parameter.empty}
    args = [ast.unparse(a) for a in call.args]
    for kw in call.keywords:
        if not _is_default(kw, defaults):
            args.append(f"{kw.arg}={ast.unparse(kw.value)}")
    return f"nn.{type(layer).__name__}({', '.join(args)})"


def _is_default(kw: ast.keyword, defaults: dict) -> bool:
    if kw.arg not in defaults:
        return False
    try:
        value = ast.literal_eval(kw.value)
    except ValueError:
        return False
    default = defaults[kw.arg]
    # Conv2d's repr writes stride=(1, 1) for its default stride=1: the same layer
    uniform = isinstance(value, tuple) and bool(value) and all(v == default for v in value)
    return (type(value) is type(default) and value == default) or (uniform and not isinstance(default, tuple))


def _shape_comment(layer: nn.Module, x: torch.Tensor, y: torch.Tensor, last: bool) -> str:
    shape = "(B, " + ", ".join(str(d) for d in y.shape[1:]) + ")"
    if isinstance(layer, nn.Flatten):
        if tuple(x.shape[1:]) == (1, 28, 28):
            return f"{shape}: 784 = 28 x 28 pixels in a row, the tutorial's X.view(-1, 28 * 28)"
        return f"{shape} = {' x '.join(str(d) for d in x.shape[1:])} values in a row"
    if last:
        return f"{shape}: a score (logit) for each digit"
    return shape


def _check_rebuilds(layers: list[nn.Module], code: str) -> None:
    """A repr is only the layer's description: a layer whose repr leaves out what shapes its weights
    would be written as a different layer. Build the code and compare, rather than trust it."""
    with GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        rebuilt = list(eval(compile(code, "<model>", "eval"), {"nn": nn, "__builtins__": {}}))

    def described(modules: list[nn.Module]) -> list:
        return [(repr(m), [tuple(t.shape) for t in m.state_dict().values()]) for m in modules]

    if described(rebuilt) != described(layers):
        raise ValueError("the model's code would not rebuild the same layers")


# ---- the steps ----

def _settings(config: TrainConfig) -> Part:
    lines = [
        "import torch",
        "import torchvision",
        "import torchvision.transforms as transforms",
        "from torch import nn",
        "",
        'data_root = "MNIST_data/"  # where torchvision keeps (and first downloads) MNIST',
        "",
        f"learning_rate = {config.lr!r}  # step size of each update"
        + (" (the peak of the one-cycle schedule)" if config.schedule == "onecycle" else ""),
        f"batch_size = {config.batch_size}  # images per update",
        f"training_epochs = {config.epochs}  # passes over the training images",
        f"seed = {config.seed}  # the same seed gives the same initial weights",
    ]
    if config.weight_decay:
        lines.append(f"weight_decay = {config.weight_decay!r}  # L2 penalty: pulls every weight a little towards 0")
    if config.label_smoothing:
        lines.append(f"label_smoothing = {config.label_smoothing!r}  # see the loss below")
    if config.validation_size:
        lines.append(f"validation_size = {config.validation_size}  # training images held out to choose settings on")
    return Part("Imports and settings",
                "PyTorch, and torchvision for the MNIST files. The settings are the page's sidebar: "
                "`learning_rate`, `batch_size` and `training_epochs` are its sliders.", "\n".join(lines))


def _device(config: TrainConfig) -> Part:
    if config.device == "auto":
        choice = ('# A CUDA GPU when there is one, else the CPU (the tutorial\'s "cuda:0" fails without a GPU).\n'
                  'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")')
    else:
        choice = f"device = torch.device({config.device!r})"
    return Part("Device and seed",
                "The device is chosen once; the model and every batch go there. The seed fixes the initial "
                "weights" + (", the shuffling and the augmentation." if config.augment else " and the shuffling."),
                f"{choice}\ntorch.manual_seed(seed)\nprint(\"Device:\", device)")


def _data(config: TrainConfig, normalization: tuple[float, float] | None) -> Part:
    steps = ["transforms.ToTensor(),  # 0-255 pixels -> a (1, 28, 28) float tensor in 0-1"]
    if config.augment:
        steps.append(
            "# A random rotation (up to 10 degrees), scale (0.9-1.1) and shift (up to 10% of the width) of each\n"
            "# image, the ranges of the page's augmentation as closely as torchvision allows: its shifts are\n"
            "# whole pixels where the page's are fractional.\n"
            "transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1),\n"
            "                        interpolation=transforms.InterpolationMode.BILINEAR),")
    if normalization is not None:
        steps.append("transforms.Normalize((mean,), (std,)),  # (x - mean) / std: inputs centred on 0")
    lines = []
    if normalization is not None:
        lines.append(f"mean, std = {normalization[0]!r}, {normalization[1]!r}  # the training images' pixel mean "
                     "and standard deviation (0-1 scale)")
    if len(steps) == 1:
        lines.append("transform = transforms.ToTensor()  # 0-255 pixels -> a (1, 28, 28) float tensor in 0-1")
    else:
        body = "\n".join("    " + line for step in steps for line in step.splitlines())
        lines.append(f"transform = transforms.Compose([\n{body}\n])")
    lines += [
        "mnist_train = torchvision.datasets.MNIST(root=data_root, train=True, transform=transform, download=True)",
    ]
    if config.evaluate_test:
        lines.append("mnist_test = torchvision.datasets.MNIST(root=data_root, train=False, "
                     "transform=transforms.ToTensor(), download=True)")
    if config.validation_size:
        lines += [
            "# The held-out images: a fixed split, the same for every seed, so settings are compared on the same images.",
            f"order = torch.randperm(len(mnist_train), generator=torch.Generator().manual_seed({VALIDATION_SEED}))",
            "validation_images = mnist_train.data[order[:validation_size]]",
            "validation_labels = mnist_train.targets[order[:validation_size]]",
            "train_set = torch.utils.data.Subset(mnist_train, order[validation_size:])",
        ]
    source = "train_set" if config.validation_size else "mnist_train"
    lines.append(f"data_loader = torch.utils.data.DataLoader({source}, batch_size=batch_size, shuffle=True, "
                 "drop_last=True)")
    n = TRAIN_IMAGES - config.validation_size
    text = (f"{n:,} training images of 28 x 28 pixels with their digits"
            + (f" ({config.validation_size:,} more held out for validation)" if config.validation_size else "")
            + (f", and {TEST_IMAGES:,} test images" if config.evaluate_test else "")
            + ". The DataLoader shuffles them each epoch and hands them out in batches of `batch_size`; "
            "`drop_last` drops the incomplete batch at the end.")
    if normalization is not None:
        text += " The model takes its inputs normalised with the training set's mean and standard deviation."
    return Part("Data", text, "\n".join(lines))


def _model(layers: str) -> Part:
    code = ("# Input: (B, 1, 28, 28) images, B = batch_size; each layer's comment is the shape it outputs.\n"
            f"model = {layers}.to(device)")
    return Part("Model", "The page's model, layer by layer, in plain `torch.nn`. `nn.Linear` has a bias "
                "(the tutorial's `bias=True`) unless `bias=False` is written.", code)


def _loss_and_optimizer(config: TrainConfig) -> Part:
    smoothing = ", label_smoothing=label_smoothing" if config.label_smoothing else ""
    lines = [f"loss = nn.CrossEntropyLoss({smoothing.lstrip(', ')}).to(device)  # CrossEntropyLoss = softmax + "
             "cross-entropy in one"]
    if config.label_smoothing:
        lines.insert(0, "# label_smoothing: the target gives the right digit 1 - label_smoothing (+ its share of "
                        "it), the\n# other digits the rest, so the model is not pushed to be certain.")
    decay = ", weight_decay=weight_decay" if config.weight_decay else ""
    lines.append({
        "sgd": f"optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate{decay})",
        "momentum": f"optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True{decay})",
        "adam": f"optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate{decay})",
    }[config.optimizer])
    about = {"sgd": "plain stochastic gradient descent, the tutorial's",
             "momentum": "SGD with Nesterov momentum 0.9: each step keeps 90% of the previous one's direction",
             "adam": "Adam: a step size of its own for every weight, from its gradients' running averages"}
    return Part("Loss and optimizer",
                f"The cost of a batch is its mean cross-entropy; the optimizer is {about[config.optimizer]}.",
                "\n".join(lines))


def _training(config: TrainConfig) -> Part:
    n = TRAIN_IMAGES - config.validation_size
    lines = [f"total_batch = len(data_loader)  # {n // config.batch_size} = {n} / {config.batch_size} "
             "(images / batch_size): updates per epoch"]
    if config.schedule == "onecycle":
        lines += ["# One-cycle: the rate rises to learning_rate over the first quarter of the updates, then",
                  "# anneals to almost 0; stepped after every batch.",
                  "scheduler = torch.optim.lr_scheduler.OneCycleLR(",
                  "    optimizer, max_lr=learning_rate, total_steps=training_epochs * total_batch, "
                  f"pct_start={ONECYCLE_PCT_START})"]
    loop = [
        "for epoch in range(training_epochs):",
        "    model.train()  # layers such as batch norm and dropout behave differently in training",
        "    total_cost = 0",
        "    for X, Y in data_loader:",
        "        X = X.to(device)  # (batch_size, 1, 28, 28)",
        "        Y = Y.to(device)  # (batch_size,): the digits 0-9 themselves, not one-hot",
        "        hypothesis = model(X)  # (batch_size, 10)",
        "        cost = loss(hypothesis, Y)",
        "        optimizer.zero_grad()",
        "        cost.backward()",
        "        optimizer.step()",
        *(["        scheduler.step()"] if config.schedule == "onecycle" else []),
        "        total_cost += cost.detach()  # detach: a running total needs no gradient",
        "    avg_cost = total_cost.item() / total_batch",
        "    # 2.30 = ln 10 is guessing among ten digits: the cost should fall well below it",
        '    print("Epoch:", "%03d" % (epoch + 1), "cost =", "{:.9f}".format(avg_cost))',
    ]
    return Part("Training",
                "Each epoch goes once through the training images in shuffled batches: predict, measure the "
                "cost, backpropagate, step. `avg_cost` is the mean cost of the epoch's batches.",
                "\n".join(lines + loop))


def _accuracy(config: TrainConfig, normalization: tuple[float, float] | None) -> Part:
    lines = ["model.eval()  # batch norm uses its running statistics, dropout is off",
             "with torch.no_grad():  # no gradients needed to score"]
    if config.validation_size:
        lines += _scoring("Validation accuracy", "validation_images", "validation_labels", ("X_val", "Y_val"),
                          normalization)
    if config.evaluate_test:
        lines += ["    # The tutorial scored mnist_test.data.float(), pixels 0-255, with a model trained on 0-1",
                  "    # pixels: here the test images are scaled to 0-1 like the training images.",
                  *_scoring("Accuracy", "mnist_test.data", "mnist_test.targets", ("X_test", "Y_test"), normalization)]
    else:
        lines.append("    # The test set stays unseen: settings are chosen on the validation images.")
    return Part("Accuracy", "The share of images whose highest score is the right digit"
                + (", on the test images the model never trained on." if config.evaluate_test else
                   ", on the held-out validation images (the test set is left unseen)."), "\n".join(lines))


def _scoring(label: str, pixels: str, digits: str, names: tuple[str, str],
             normalization: tuple[float, float] | None) -> list[str]:
    """Lines printing ``label: 0.xxxx``, the accuracy on the uint8 images ``pixels`` with labels ``digits``."""
    x, y = names
    lines = [f"    {x} = {pixels}.unsqueeze(1).float().div(255).to(device)  # (N, 1, 28, 28) in 0-1"]
    if normalization is not None:
        lines.append(f"    {x} = ({x} - mean) / std  # normalised like the training images")
    return lines + [
        f"    {y} = {digits}.to(device)",
        f"    # {EVAL_CHUNK} images at a time, so a wide model's activations fit in memory",
        f"    prediction = torch.cat([model(x) for x in {x}.split({EVAL_CHUNK})])",
        f"    correct_prediction = torch.argmax(prediction, 1) == {y}",
        "    accuracy = correct_prediction.float().mean()",
        f'    print("{label}:", "{{:.4f}}".format(accuracy.item()))',
    ]
