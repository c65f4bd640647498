import dataclasses
import importlib
import math

import pytest
import torch

from mnist_core import PRESETS, TrainConfig, preset_config, resolve_device, train
from mnist_core.evaluate import accuracy
from mnist_core.train import make_optimizer, random_affine, validation_split

train_mod = importlib.import_module("mnist_core.train")  # the module: the package's ``train`` is the function


def test_tutorial_defaults():
    c = TrainConfig()
    assert (c.model, c.optimizer, c.lr, c.batch_size, c.epochs) == ("linear", "sgd", 0.1, 1000, 10)
    # nothing beyond the tutorial is switched on by default
    assert (c.weight_decay, c.schedule, c.label_smoothing, c.augment, c.validation_size, c.width) == (
        0.0, "constant", 0.0, False, 0, 0)
    assert c.evaluate_test and c.eval_every_epoch


def test_preset_with_overrides():
    c = preset_config("cnn-fast", epochs=5, seed=9)
    assert (c.epochs, c.seed) == (5, 9)
    assert all(getattr(c, k) == v for k, v in PRESETS["cnn-fast"].items() if k != "epochs")
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("fastest")


def test_config_is_frozen():
    c = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0
    assert dataclasses.replace(c, lr=1.0).lr == 1.0 and c.lr == 0.1


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


def test_trainings_in_parallel_threads_each_start_from_their_own_seeds_weights(mnist, monkeypatch):
    import threading
    import time

    train_module = importlib.import_module("mnist_core.train")
    build = train_module.build_model

    def slow_build(*args, **kw):  # the window in which another training could seed the global generator
        time.sleep(0.2)
        return build(*args, **kw)
    monkeypatch.setattr(train_module, "build_model", slow_build)
    alone = {seed: train(TrainConfig(seed=seed, device="cpu"), mnist, should_stop=lambda: True).model
             for seed in (1, 2)}
    together = {}

    def first_weights(seed):
        together[seed] = train(TrainConfig(seed=seed, device="cpu"), mnist, should_stop=lambda: True).model
    threads = [threading.Thread(target=first_weights, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    for seed in (1, 2):
        assert all(torch.equal(a, b) for a, b in zip(alone[seed].state_dict().values(),
                                                     together[seed].state_dict().values()))


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
    config = TrainConfig(model="mlp", width=128, lr=1e4, epochs=3, device="cpu")  # the tutorial's SGD, far too fast
    r = train(config, mnist, on_epoch=reports.append)  # NaN within the first epoch
    assert r.status == "diverged"
    assert len(r.epoch_costs) == 1 and not math.isfinite(r.epoch_costs[0])
    assert len(reports) == 1 and reports[0].test_accuracy is None


def test_validation_split_sizes_and_disjointness():
    torch.manual_seed(1)
    val, rest = validation_split(60000, 5000)
    torch.manual_seed(2)  # the global seed (the run's seed) does not move the split
    val2, rest2 = validation_split(60000, 5000)
    assert torch.equal(val, val2) and torch.equal(rest, rest2)
    assert len(val) == 5000 and len(rest) == 55000
    assert torch.equal(torch.cat([val, rest]).sort().values, torch.arange(60000))  # disjoint, all of them


def test_validation_split_is_carved_from_training(mnist):
    val_idx, _ = validation_split(60000, 5000)
    for seed in (0, 1):
        batches = []
        r = train(TrainConfig(epochs=1, seed=seed, validation_size=5000, eval_every_epoch=False, device="cpu"), mnist,
                  on_batch=lambda done, total: batches.append(total))
        assert batches[-1] == 55000 // 1000  # the held-out images are not trained on
        # the validation accuracy is the model's on those training images, the same for every seed
        held_out = accuracy(r.model, mnist.train_images[val_idx], mnist.train_labels[val_idx])
        assert r.val_accuracies[0] == pytest.approx(held_out, abs=1e-6) and 0.8 < held_out < 1


def test_eval_every_epoch_off_scores_the_last_epoch_only(mnist):
    r = train(TrainConfig(epochs=3, eval_every_epoch=False, device="cpu"), mnist)
    assert r.test_accuracies[:2] == [None, None] and 0.85 < r.test_accuracies[2] < 1


def test_evaluate_test_off_never_touches_the_test_set(mnist, monkeypatch):
    scored = []
    monkeypatch.setattr(train_mod, "accuracy", lambda model, images, labels: scored.append(len(images)) or 0.5)
    r = train(TrainConfig(epochs=2, validation_size=5000, evaluate_test=False, device="cpu"), mnist)
    assert r.test_accuracies == [None, None] and r.test_accuracy is None
    assert scored == [5000, 5000]  # the validation split only, never the 10,000 test images


def test_evaluate_test_off_in_a_job(mnist):
    from mnist_core.jobs import run_training
    out = run_training(TrainConfig(epochs=1, evaluate_test=False, device="cpu"), mnist)
    assert out.status == "completed" and out.evaluation is None and out.test_accuracies == [None]


def test_augmentation_runs_inside_the_loop(mnist, monkeypatch):
    calls = []
    real = train_mod.random_affine
    monkeypatch.setattr(train_mod, "random_affine", lambda x, g: calls.append(len(x)) or real(x, g))
    plain = train(TrainConfig(epochs=1, device="cpu"), mnist)
    assert calls == []
    augmented = train(TrainConfig(epochs=1, augment=True, device="cpu"), mnist)
    assert calls == [1000] * 60  # every batch, whole
    assert augmented.epoch_costs != plain.epoch_costs


def _learning_rates(mnist, monkeypatch, config):
    made = []
    monkeypatch.setattr(train_mod, "make_optimizer", lambda c, p: made.append(make_optimizer(c, p)) or made[-1])
    rates = []  # after each step: the rate of the next batch (the one after the last batch is never used)
    train(config, mnist, on_batch=lambda done, total: rates.append(made[0].param_groups[0]["lr"]))
    return rates[:-1]


def test_onecycle_warms_up_then_anneals(mnist, monkeypatch):
    rates = _learning_rates(mnist, monkeypatch, TrainConfig(epochs=2, lr=0.5, schedule="onecycle", device="cpu"))
    peak = max(range(len(rates)), key=rates.__getitem__)
    assert len(rates) == 119 and 25 <= peak <= 35  # warm-up over a quarter of the 120 steps
    assert rates[0] < 0.05 and max(rates) == pytest.approx(0.5, rel=0.01) and rates[-1] < 1e-3
    assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1]))  # rises, then falls
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))
    assert set(_learning_rates(mnist, monkeypatch, TrainConfig(epochs=1, lr=0.5, device="cpu"))) == {0.5}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_weight_decay_reaches_every_optimizer(optimizer):
    param = torch.nn.Parameter(torch.zeros(3))
    made = make_optimizer(TrainConfig(optimizer=optimizer, weight_decay=0.01), [param])
    assert made.param_groups[0]["weight_decay"] == 0.01


def test_weight_decay_shrinks_the_weights(mnist):
    norm = {wd: train(TrainConfig(epochs=1, weight_decay=wd, device="cpu"), mnist).model[-1].weight.norm().item()
            for wd in (0.0, 0.01)}
    assert norm[0.01] < 0.98 * norm[0.0]  # 3.16 against 3.27 with seed 0


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
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_asked_for_without_a_gpu():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_gpu_index_past_the_last_is_refused():
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=f"no GPU {torch.cuda.device_count()}: this machine has"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda(mnist):
    assert resolve_device("auto").type == "cuda" and resolve_device("cuda:0").index == 0
    r = train(TrainConfig(epochs=1, device="cuda"), mnist)
    assert r.device.startswith("cuda") and next(r.model.parameters()).is_cuda and 0.85 < r.test_accuracy < 1


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
