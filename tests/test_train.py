import math

import pytest
import torch

from mnist_core import PRESETS, TrainConfig, preset_config, resolve_device, train
from mnist_core.train import random_affine


def test_tutorial_defaults():
    c = TrainConfig()
    assert (c.model, c.optimizer, c.lr, c.batch_size, c.epochs) == ("linear", "sgd", 0.1, 1000, 10)
    assert preset_config("tutorial") == c


def test_tutorial_run(tutorial_result):
    r = tutorial_result
    assert r.status == "completed" and r.device == "cpu"
    assert len(r.epoch_costs) == 10 and len(r.test_accuracies) == 10
    assert r.epoch_costs[-1] < r.epoch_costs[0]
    assert 0.90 <= r.test_accuracy <= 0.93
    assert r.train_seconds > 0


def test_overrides_and_callback(mnist):
    reports = []
    r = train(TrainConfig(epochs=2, batch_size=500, optimizer="adam", lr=0.01, device="cpu"), mnist,
              on_epoch=reports.append)
    assert [e.epoch for e in reports] == [1, 2] and reports[-1].epochs == 2
    assert r.epoch_costs == [e.cost for e in reports]
    assert all(0.85 < e.test_accuracy <= 1 for e in reports)
    assert reports[1].seconds >= reports[0].seconds > 0


def test_same_seed_same_numbers(mnist):
    a = train(TrainConfig(epochs=1, seed=3, device="cpu"), mnist)
    b = train(TrainConfig(epochs=1, seed=3, device="cpu"), mnist)
    c = train(TrainConfig(epochs=1, seed=4, device="cpu"), mnist)
    assert a.epoch_costs == b.epoch_costs and a.test_accuracies == b.test_accuracies
    assert a.epoch_costs != c.epoch_costs


def test_should_stop_cancels_between_batches(mnist):
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 5

    r = train(TrainConfig(epochs=10, device="cpu"), mnist, should_stop=stop)
    assert r.status == "stopped"
    assert len(polls) == 6 and len(r.epoch_costs) == 1


def test_nan_cost_is_reported_as_diverged(mnist):
    reports = []
    r = train(TrainConfig(model="mlp", lr=1000.0, epochs=3, device="cpu"), mnist, on_epoch=reports.append)
    assert r.status == "diverged"
    assert len(r.epoch_costs) == 1 and not math.isfinite(r.epoch_costs[0])
    assert len(reports) == 1 and reports[0].test_accuracy is None


def test_validation_split_is_carved_from_training(mnist):
    r = train(TrainConfig(epochs=1, validation_size=5000, eval_every_epoch=False, device="cpu"), mnist)
    assert r.val_accuracies[0] is not None and 0.8 < r.val_accuracies[0] < 1


@pytest.mark.parametrize("bad, match", [
    (dict(lr=0), "lr"), (dict(lr=float("nan")), "lr"), (dict(batch_size=0), "batch_size"),
    (dict(epochs=0), "epochs"), (dict(model="nope"), "unknown model"),
    (dict(optimizer="rmsprop"), "unknown optimizer"), (dict(width=10), "no width"),
])
def test_bad_config_names_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad).validate()


def test_batch_larger_than_the_data(mnist):
    with pytest.raises(ValueError, match="larger than"):
        train(TrainConfig(batch_size=70000, device="cpu"), mnist)


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_config_round_trip_ignores_unknown_keys():
    c = TrainConfig(lr=0.5, epochs=3)
    assert TrainConfig.from_dict({**c.to_dict(), "from_a_newer_version": 1}) == c


def test_augmentation_is_batched_and_keeps_ink():
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    g = torch.Generator().manual_seed(0)
    y = random_affine(x, g)
    assert y.shape == x.shape
    assert not torch.equal(y[0], y[1])  # each image its own transform
    mass = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ((mass > 0.7) & (mass < 1.4)).all()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_config(name):
    preset_config(name).validate()


def test_each_model_has_a_preset():
    from mnist_core import list_models
    from mnist_core.train import DEFAULT_PRESET
    assert set(DEFAULT_PRESET) == set(list_models())
    assert all(preset_config(DEFAULT_PRESET[m]).model == m for m in list_models())
