"""Work limits: a training's time and memory estimated before it starts, and refused over a limit."""

import pytest

from mnist_core import PRESETS, TrainConfig, preset_config
from mnist_core.budget import (AUGMENT_S_PER_IMAGE, MEMORY_ENV, SECONDS_ENV, WorkEstimate, WorkLimitError,
                               WorkLimits, estimate_work)
from mnist_core.models import WorkCost, model_spec
from helpers import run_main

# The two settings of issue 12 that took hours (about 215 min) and gigabytes (4.4 GB) from one link.
HOURS = dict(model="cnn", width=64, batch_size=32, epochs=30, augment=True)
GIGABYTES = dict(width=64, batch_size=5000)


@pytest.fixture
def host_defaults(monkeypatch):
    monkeypatch.delenv(SECONDS_ENV, raising=False)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    return WorkLimits.from_env()


def test_hours_of_training_are_refused_with_what_to_change(host_defaults):
    config = preset_config("cnn-fast", **HOURS)
    with pytest.raises(WorkLimitError) as info:
        host_defaults.check(config)
    message = str(info.value)
    assert "would take" in message and "h " in message and "over the limit of 20 min" in message
    assert "epochs" in message and "width (now 64)" in message and "batch size (now 32)" in message
    assert "no augmentation" in message
    assert isinstance(info.value, ValueError)


def test_gigabytes_of_memory_are_refused_with_what_to_change(host_defaults):
    config = preset_config("cnn-fast", **GIGABYTES)
    with pytest.raises(WorkLimitError) as info:
        host_defaults.check(config)
    message = str(info.value)
    assert "MB of memory" in message and "over the limit of 2,048 MB" in message
    assert "smaller batch size (now 5000)" in message and "width (now 64)" in message


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_is_admitted(host_defaults, preset):
    estimate = host_defaults.check(preset_config(preset))
    assert isinstance(estimate, WorkEstimate) and estimate.seconds > 0 and estimate.peak_bytes > 0


def test_the_host_sets_the_limits(monkeypatch):
    monkeypatch.setenv(SECONDS_ENV, "0")           # no time limit
    monkeypatch.setenv(MEMORY_ENV, "100000")
    WorkLimits.from_env().check(preset_config("cnn-fast", **HOURS))
    WorkLimits.from_env().check(preset_config("cnn-fast", **GIGABYTES))
    monkeypatch.setenv(SECONDS_ENV, "30")
    monkeypatch.setenv(MEMORY_ENV, "")             # empty: the default
    with pytest.raises(WorkLimitError, match="over the limit of 30 s"):
        WorkLimits.from_env().check(preset_config("cnn-best"))
    assert WorkLimits.from_env().max_memory_mb == 2048
    monkeypatch.setenv(MEMORY_ENV, "1")
    with pytest.raises(WorkLimitError, match="over the limit of 1 MB"):
        WorkLimits.from_env().check(preset_config("mlp"))


@pytest.mark.parametrize("value", ["fast", "-5", "nan", "inf"])
def test_a_bad_setting_of_the_host_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(SECONDS_ENV, value)
    with pytest.raises(ValueError, match=f"{SECONDS_ENV} must be a number >= 0"):
        WorkLimits.from_env()


def test_the_estimate_grows_with_the_work():
    base = estimate_work(preset_config("cnn-fast"))
    assert estimate_work(preset_config("cnn-fast", epochs=4)).seconds > 1.9 * base.seconds
    assert estimate_work(preset_config("cnn-fast", width=64)).seconds > base.seconds
    assert estimate_work(preset_config("cnn-fast", augment=True)).seconds > base.seconds
    assert estimate_work(preset_config("cnn-fast", batch_size=2000)).peak_bytes > base.peak_bytes
    assert estimate_work(preset_config("cnn-fast", width=64)).peak_bytes > base.peak_bytes
    with pytest.raises(ValueError, match="width must be between"):
        estimate_work(TrainConfig(model="cnn", width=10**6))


def test_the_cli_refuses_over_max_seconds_before_training(tmp_path, capsys):
    proc = run_main(capsys, "--model", "cnn", "--width", "64", "--batch-size", "32", "--epochs", "30", "--augment",
                   "--max-seconds", "600", "--data-dir", str(tmp_path / "none"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mnist_core: error: this training would take" in proc.stderr and "limit of 10 min" in proc.stderr


def test_costs_given_to_the_estimate_replace_the_registered_ones():
    """What the benchmark's fit does: estimate the presets with costs of its own."""
    config = preset_config("cnn-best")
    registered = model_spec("cnn").cost
    assert estimate_work(config, cost=registered) == estimate_work(config)
    doubled = WorkCost(**{part: {t: 2 * c for t, c in getattr(registered, part).items()}
                          for part in ("train", "eval", "memory")})
    estimate = estimate_work(config, cost=doubled, augment_s_per_image=2 * AUGMENT_S_PER_IMAGE)
    assert estimate.seconds == pytest.approx(2 * estimate_work(config).seconds)
