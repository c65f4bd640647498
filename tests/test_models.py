"""The model registry: every registered model, its spec, and a model added for the length of a test."""

import math

import pytest
import torch
from torch import nn

from mnist_core import PRESETS, TrainConfig, build_model, list_models, preset_config
from mnist_core import models as models_mod
from mnist_core.budget import WorkLimits, estimate_work
from mnist_core.models import MNIST_MEAN, MNIST_STD, Normalize, WorkCost, model_spec, register
from mnist_core.train import preset_of

from helpers import explains_as_in_eval_mode, round_trips, shows_its_inside


def trains_a_step(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.rand(8, 1, 28, 28)
    y = torch.randint(0, 10, (8,))
    logits = model(x)
    assert logits.shape == (8, 10)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, y).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert model.registry_name == name


def has_a_sound_spec(name):
    """What the page, the CLI and the estimate read from the registration holds together."""
    spec = model_spec(name)
    assert spec.name == name and spec.description
    config = preset_config(preset_of(name), model=name)
    config.validate()
    if spec.preset is not None:
        assert spec.preset in PRESETS and preset_config(spec.preset).model == name
    for width in spec.widths:
        TrainConfig(model=name, width=width).validate()
        assert estimate_work(TrainConfig(model=name, width=width)).seconds > 0
    estimate = estimate_work(config)
    assert math.isfinite(estimate.seconds) and estimate.seconds > 0 and estimate.peak_bytes > 0


def saves_loads_and_shows_its_inside(name, tmp_path):
    """The other files' per-model checks (test_checkpoint, test_explain run them for every registered model)."""
    round_trips(name, tmp_path)
    shows_its_inside(name)
    explains_as_in_eval_mode(name)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_a_step(name):
    trains_a_step(name)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_has_a_sound_spec(name):
    has_a_sound_spec(name)


def test_each_model_has_a_preset():
    assert all(preset_config(preset_of(m)).model == m for m in list_models())


def test_linear_is_the_tutorials():
    model = build_model("linear")
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 1 and layers[0].in_features == 784 and layers[0].out_features == 10
    assert layers[0].bias is not None


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer")
    with pytest.raises(ValueError, match="unknown model 'transformer'; choose one of linear, mlp, cnn"):
        model_spec("transformer")


def test_a_registration_that_cannot_hold_is_refused():
    def no_width(mean: float = 0.0, std: float = 1.0):
        return nn.Sequential(Normalize(mean, std), nn.Flatten(), nn.Linear(784, 10))

    def narrow(width: int = 4):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))

    with pytest.raises(ValueError, match="offers widths but its constructor takes no width"):
        register("refused-a", "no width to offer", widths=(8,))(no_width)
    with pytest.raises(ValueError, match="width must be between 1 and 16"):
        register("refused-b", "a width past its limit", limits={"width": (1, 16)}, widths=(8, 32))(narrow)
    with pytest.raises(ValueError, match="unknown cost terms"):
        WorkCost(train={"depth": 1.0}, eval={}, memory={})
    assert "refused-a" not in list_models() and "refused-b" not in list_models()


# ---------------------------------------------------------------- a fourth model, for one test

def tiny(width: int = 4, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> nn.Module:
    return nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(1, width, 3, padding=1), nn.MaxPool2d(2), nn.BatchNorm2d(width), nn.ReLU(),  # (B, w, 14, 14)
        nn.Flatten(), nn.Dropout(0.1),
        nn.Linear(width * 14 * 14, 10),
    )


@pytest.fixture
def tiny_model():
    """A model registered as a newcomer registers it: limits and widths, no preset, no measured cost."""
    register("tiny", "A test's throwaway convolutional model", limits={"width": (1, 16)}, widths=(2, 8))(tiny)
    try:
        yield "tiny"
    finally:
        del models_mod._SPECS["tiny"]


def test_a_new_model_is_tested_trained_estimated_and_offered(tiny_model, tmp_path):
    name = tiny_model
    assert list_models()[-1] == name
    # the per-model tests, run for it as for every registered model
    trains_a_step(name)
    has_a_sound_spec(name)
    saves_loads_and_shows_its_inside(name, tmp_path)
    # no measured cost: a conservative estimate, not a crash, that still grows with the width
    default, wider = (estimate_work(TrainConfig(model=name, width=w)) for w in (0, 16))
    costliest = max(estimate_work(TrainConfig(model=m)).seconds for m in list_models() if model_spec(m).cost)
    assert default.seconds >= costliest and wider.seconds > default.seconds and wider.peak_bytes > default.peak_bytes
    WorkLimits().check(TrainConfig(model=name))
    # no preset: the tutorial's settings, training this model
    assert preset_of(name) == "tutorial"
    # the page: its widths, the settings its choice brings, a link to them
    from dashboard import settings
    assert settings.width_choices(name) == [0, 2, 8]
    chosen = {**settings.base_settings(name), "width": 8}
    assert chosen["model"] == name and chosen["lr"] == TrainConfig().lr
    assert settings.from_query(settings.to_query(chosen)) == chosen
    # the CLI
    from mnist_core.__main__ import build_parser, config_from_args
    config = config_from_args(build_parser().parse_args(["--model", name, "--width", "2"]))
    assert (config.model, config.width, config.optimizer) == (name, 2, "sgd")


def test_the_new_model_is_gone_after_its_test():
    assert "tiny" not in list_models()
