"""A run's numbers as files: its curves as rows and CSV, its JSON summary."""

import json
from types import SimpleNamespace

from mnist_core import TrainConfig
from mnist_core.summary import curves_csv, curves_rows, run_summary
from mnist_core.train import EpochReport

STORED = [{"epoch": 1, "cost": 0.61, "test_accuracy": 0.88, "val_accuracy": None, "seconds": 0.5},
          {"epoch": 2, "cost": float("nan"), "test_accuracy": None, "val_accuracy": None, "seconds": 1.0}]


def test_curves_from_reports_and_from_stored_epochs_are_the_same():
    reports = [EpochReport(e["epoch"], e["cost"], e["test_accuracy"], None, e["seconds"], 2) for e in STORED]
    assert curves_csv(STORED) == curves_csv(reports) == "epoch,cost,test_accuracy,seconds\n1,0.61,0.88,0.5\n2,nan,,1\n"
    assert curves_rows(reports)[0] == {"epoch": 1, "cost": 0.61, "test_accuracy": 0.88, "seconds": 0.5}
    assert curves_csv([]) == "epoch,cost,test_accuracy,seconds\n"


def test_the_summary_of_a_run_is_plain_json():
    config = TrainConfig(epochs=2)
    result = SimpleNamespace(status="completed", epoch_costs=[0.6, 0.4], test_accuracies=[None, 0.9],
                             train_seconds=1.5, device="cpu", worker="host:1",
                             evaluation=SimpleNamespace(accuracy=0.9, loss=0.35))
    summary = json.loads(json.dumps(run_summary(result, config, "fashion")))
    assert summary == {"test_accuracy": 0.9, "test_loss": 0.35, "train_seconds": 1.5, "epoch_costs": [0.6, 0.4],
                       "test_accuracies": [None, 0.9], "device": "cpu", "worker": "host:1",
                       "status": "completed", "config": config.to_dict(), "dataset": "fashion"}
    result.evaluation = None  # the test set never scored
    assert run_summary(result, config)["test_accuracy"] is None and run_summary(result, config)["test_loss"] is None
