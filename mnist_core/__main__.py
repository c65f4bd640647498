"""``python -m mnist_core``: the tutorial's run in a terminal.

With no flags it prints the tutorial's lines exactly (``Epoch: 001 cost =
0.384366602`` ... ``Accuracy: 0.9030``). Flags mirror :class:`TrainConfig`;
``--preset`` picks a named set of settings and ``--model`` alone picks that
model's preset. Bad flags or data: a message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from .checkpoint import save_checkpoint
from .data import DATA_DIR_ENV, DATASETS, DataError, load_mnist
from .evaluate import evaluate
from .train import DEFAULT_PRESET, PRESETS, TrainConfig, preset_config, resolve_device, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_core",
        description="Train a classifier on MNIST; with no flags, the tutorial's softmax regression.",
    )
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not MISSING else None
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS,
                  "help": f"{help_text} (default: {default})"}
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
        if "choices" in f.metadata:
            kwargs["choices"] = list(f.metadata["choices"]())
        parser.add_argument(flag, type=kind, **kwargs)
    parser.add_argument("--preset", choices=list(PRESETS),
                        help="start from these settings; flags still override any field "
                             "(default: the tutorial's, or the chosen model's preset)")
    parser.add_argument("--dataset", choices=list(DATASETS), default="mnist", help="mnist or fashion (Fashion-MNIST)")
    parser.add_argument("--data-dir", help=f"folder holding MNIST/raw/ (default: ${DATA_DIR_ENV}, else MNIST_data/)")
    parser.add_argument("--save", metavar="PATH", help="write a checkpoint of the trained model here")
    parser.add_argument("--json-summary", metavar="PATH", help="write test accuracy, seconds, costs and device as JSON")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Preset (named, else the model's, else the tutorial's) with the given flags on top."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    preset = args.preset or DEFAULT_PRESET.get(given.get("model", "linear"), "tutorial")
    return preset_config(preset, **given)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        config.validate()
        resolve_device(config.device)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2

    try:
        data = load_mnist(args.data_dir, dataset=args.dataset)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def report(e):
        print("Epoch:", "%03d" % e.epoch, "cost =", "{:.9f}".format(e.cost), flush=True)

    try:
        result = train(config, data, on_epoch=report)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if result.status == "diverged":
        print(f"error: the cost became {result.epoch_costs[-1]} in epoch {len(result.epoch_costs)}: "
              f"training diverged. Try a smaller learning rate (now {config.lr}).", file=sys.stderr)
        return 1

    evaluation = evaluate(result.model, data)
    print(f"Accuracy: {evaluation.accuracy:.4f}")
    print(f"({config.model} on {result.device}, {result.train_seconds:.2f} s of training)", file=sys.stderr)

    summary = {**result.summary(), "test_accuracy": evaluation.accuracy, "test_loss": evaluation.loss,
               "dataset": args.dataset}
    try:
        if args.save:
            save_checkpoint(args.save, result.model, config, metrics=summary)
        if args.json_summary:
            Path(args.json_summary).write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as exc:
        print(f"error: could not write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
