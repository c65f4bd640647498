"""A run's numbers as files: its curves, one row per epoch (CSV), and its summary (the CLI's JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from .jobs import JobResult
    from .train import EpochReport, TrainConfig

CURVE_FIELDS = ("epoch", "cost", "test_accuracy", "seconds")


def curves_rows(epochs: Iterable["EpochReport | Mapping"]) -> list[dict]:
    """One row per epoch: its number, cost, test accuracy (None where not measured) and the training
    seconds so far. ``epochs``: :class:`EpochReport` objects, or mappings with their fields (as a run
    store keeps them)."""
    return [{key: (e[key] if isinstance(e, Mapping) else getattr(e, key)) for key in CURVE_FIELDS}
            for e in epochs]


def curves_csv(epochs: Iterable["EpochReport | Mapping"]) -> str:
    """:func:`curves_rows` as CSV, accuracies as fractions, empty where not measured."""
    lines = [",".join(CURVE_FIELDS)]
    for row in curves_rows(epochs):
        accuracy = row["test_accuracy"]
        lines.append(f"{row['epoch']},{row['cost']:.9g},{'' if accuracy is None else f'{accuracy:.6g}'},"
                     f"{row['seconds']:.4g}")
    return "\n".join(lines) + "\n"


def run_summary(result: "JobResult", config: "TrainConfig", dataset: str = "mnist") -> dict:
    """What a finished run is remembered by: its test accuracy and loss (None when the test set was not
    scored), training seconds, each epoch's cost and test accuracy, where it ran, its status, settings
    and dataset. Plain values: ``json.dumps`` takes it."""
    evaluation = result.evaluation
    return {"test_accuracy": evaluation.accuracy if evaluation else None,
            "test_loss": evaluation.loss if evaluation else None,
            "train_seconds": result.train_seconds, "epoch_costs": result.epoch_costs,
            "test_accuracies": result.test_accuracies, "device": result.device, "worker": result.worker,
            "status": result.status, "config": config.to_dict(), "dataset": dataset}
