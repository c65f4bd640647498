"""The page's plain logic, without a page: settings <-> URL, and the runs' labels and advice."""

from types import SimpleNamespace

import pytest

from dashboard import settings
from mnist_core import TrainConfig
from playground import runs


@pytest.mark.parametrize("values", [
    {},
    {"lr": 0.5, "epochs": 3, "seed": 7},
    {"model": "mlp", "batch_size": 64, "label_smoothing": 0.0},
    {"model": "cnn", "width": 32, "augment": True, "schedule": "constant", "optimizer": "momentum"},
])
def test_settings_survive_the_url(values):
    chosen = {**settings.base_settings(values.get("model", "linear")), **values}
    query = settings.to_query(chosen)
    assert all(isinstance(v, str) for v in query.values())
    assert settings.from_query(query) == chosen


def test_the_tutorial_is_a_plain_link():
    assert settings.to_query(settings.tutorial_settings()) == {}
    assert settings.from_query({}) == settings.tutorial_settings()


def test_untrusted_url_values_are_snapped_or_dropped():
    found = settings.parse_query({"lr": "0.09", "batch_size": "999", "epochs": "500", "seed": "-1",
                                  "model": "resnet", "width": "32", "optimizer": "rmsprop", "augment": "yes"})
    assert found == {"lr": 0.1, "batch_size": 1000, "epochs": settings.EPOCHS_RANGE[1], "augment": True}
    assert settings.parse_query({"lr": "nan", "epochs": "x"}) == {}


def run(number, status="completed", costs=(0.5, 0.4), message=None, **config):
    epochs = [SimpleNamespace(cost=c, test_accuracy=None, seconds=1.0) for c in costs]
    job = SimpleNamespace(config=TrainConfig(**config), status=status, done=True, result=None,
                          snapshot=lambda: SimpleNamespace(epochs=epochs, device="cpu", worker=""))
    if message is not None:
        job.result = SimpleNamespace(message=message, evaluation=None)
    return runs.Run(number, job)


def test_differing_names_the_settings_that_tell_runs_apart():
    a, b, c = run(1), run(2, lr=0.5), run(3, lr=0.5, optimizer="adam")
    assert runs.differing([a, b]) == ["lr"]
    assert runs.differing([a, b, c]) == ["optimizer", "lr"]
    assert runs.differing([a, run(2)]) == ["seed"]  # identical settings: the seed tells them apart
    assert runs.label(b, ["lr"]) == "#2 lr=0.5"


def test_advice_for_runs_that_went_wrong():
    assert runs.advice(run(1)) is None
    level, text = runs.advice(run(2, status="diverged", costs=(float("nan"),), lr=10.0))
    assert level == "error" and "10" in text and "ten times smaller" in text
    level, text = runs.advice(run(3, costs=(8.5, 2.4, 1.2, 2.1), lr=10.0))  # lr 10's costs on the linear model
    assert level == "warning" and "too large" in text and "10" in text
    level, text = runs.advice(run(4, status="failed", message="out of memory"))
    assert level == "error" and "out of memory" in text


def test_a_stored_runs_curves_as_csv():
    from playground.store import StoredRun
    stored = StoredRun(7, "w" * 22, 3, TrainConfig(epochs=2).to_dict(), "completed", epochs=[
        {"epoch": 1, "cost": 0.61, "test_accuracy": 0.88, "val_accuracy": None, "seconds": 0.5},
        {"epoch": 2, "cost": float("nan"), "test_accuracy": None, "val_accuracy": None, "seconds": 1.0}])
    r = runs.Run(3, stored=stored, load_blob=lambda: b"the checkpoint")
    assert runs.curves_csv(r) == "epoch,cost,test_accuracy,seconds\n1,0.61,0.88,0.5\n2,nan,,1\n"
    assert runs.checkpoint_bytes(r) == b"the checkpoint" and r.config.epochs == 2 and r.costs[0] == 0.61
    assert r.done and r.key == "run-7" and r.accuracy == 0.88
