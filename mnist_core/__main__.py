"""``python -m mnist_core``: the tutorial's run in a terminal.

With no flags it prints the tutorial's lines exactly (``Epoch: 001 cost =
0.384366602`` ... ``Accuracy: 0.9030``). Flags mirror :class:`TrainConfig`;
``--preset`` picks a named set of settings and ``--model`` alone picks that
model's preset. Bad flags or data: a message and exit status 2. A learning rate that the costs show
to be too large or too small: a warning on stderr (a diverged training: exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from .advice import lr_advice
from .budget import WorkLimits
from .data import DATA_DIR_ENV, DATASETS
from .i18n import say, translation
from .jobs import DataSpec, get_backend, train_through
from .summary import run_summary
from .train import PRESETS, TrainConfig, preset_config, preset_of, resolve_device


PROG = "python -m mnist_core"


class _Parser(argparse.ArgumentParser):
    """Errors as one line and a pointer to --help, not the whole usage first."""

    def error(self, message: str):
        fail(message)


def _(message: str) -> str:
    """``message`` in the terminal's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), where a catalog has it."""
    return translation().gettext(message)


def fail(message: str):
    """Exit with status 2 and one line saying what is wrong."""
    print(_("mnist_core: error: {problem}\n(see {prog} --help)").format(problem=message, prog=PROG),
          file=sys.stderr)
    sys.exit(2)


def check_output_path(path: str, what: str) -> None:
    """Raise ValueError unless a file can be written at ``path``: checked before training, not after.

    Creates the file to be sure (the directory's permission bits say nothing to root, or on a read-only
    mount), and removes it again unless it was there already.
    """
    target = Path(path)
    if target.is_dir():
        raise ValueError(_("{flag} {path} is a directory; give a file name").format(flag=what, path=path))
    if not target.parent.is_dir():
        raise ValueError(_("{flag} {path}: the folder {folder} does not exist").format(
            flag=what, path=path, folder=target.parent))
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise ValueError(_("{flag} {path} cannot be written: {reason}").format(
            flag=what, path=path, reason=exc.strerror)) from None
    if not existed:
        target.unlink()


def write_output(path: str, what: str, data: bytes) -> None:
    """Write ``data`` to ``path``; ValueError with the path and the reason (a full disk...) if it fails."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise ValueError(_("could not write the {what} to {path}: {reason}").format(
            what=what, path=path, reason=exc.strerror or exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description=_("Train a classifier on MNIST; with no flags, the tutorial's softmax regression."),
    )
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not MISSING else None
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS,
                  "help": _("{help} (default: {default})").format(help=_(help_text), default=default)}
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
        if "choices" in f.metadata:
            kwargs["choices"] = list(f.metadata["choices"]())
        parser.add_argument(flag, type=kind, **kwargs)
    parser.add_argument("--preset", choices=list(PRESETS),
                        help=_("start from these settings; flags still override any field "
                               "(default: the tutorial's, or the chosen model's preset)"))
    parser.add_argument("--dataset", choices=list(DATASETS), default="mnist",
                        help=_("mnist or fashion (Fashion-MNIST)"))
    parser.add_argument("--data-dir", help=_("folder holding MNIST/raw/ (default: ${variable}, else MNIST_data/)")
                        .format(variable=DATA_DIR_ENV))
    parser.add_argument("--backend", choices=["thread", "ray"], default="thread",
                        help=_("where the training runs: thread (this process) or ray (a Ray worker; "
                               "pip install -r requirements-ray.txt, RAY_ADDRESS names the cluster)"))
    parser.add_argument("--save", metavar="PATH", help=_("write a checkpoint of the trained model here"))
    parser.add_argument("--json-summary", metavar="PATH",
                        help=_("write test accuracy, seconds, costs and device as JSON"))
    parser.add_argument("--max-seconds", type=float, metavar="S",
                        help=_("refuse a training estimated to take longer than this on a 2-core CPU "
                               "(default: no limit)"))
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Preset (named, else the model's, else the tutorial's) with the given flags on top."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    preset = args.preset or preset_of(given.get("model", "linear"))
    return preset_config(preset, **given)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A terminal's user trains on their own machine: --max-seconds is the only limit (never the host
    # limits a server reads from the environment), checked here and again by the backend.
    limits = WorkLimits(max_seconds=args.max_seconds, max_memory_mb=None)
    try:
        config = config_from_args(args)
        config.validate()
        resolve_device(config.device)
        if args.max_seconds is not None:
            if not 0 < args.max_seconds < float("inf"):
                raise ValueError(_("--max-seconds must be a positive number, got {value}").format(
                    value=args.max_seconds))
            limits.check(config)
        for path, what in ((args.save, "--save"), (args.json_summary, "--json-summary")):
            if path:
                check_output_path(path, what)
    except ValueError as exc:
        fail(say(exc, translation()))

    try:
        backend = get_backend(args.backend, limits=limits, **({"slots": 1} if args.backend == "thread" else {}))
    except ValueError as exc:  # e.g. Ray not installed, or not reachable
        print(_("error: {problem}").format(problem=exc), file=sys.stderr)
        return 2

    def report(e):
        print("Epoch:", "%03d" % e.epoch, "cost =", "{:.9f}".format(e.cost), flush=True)

    try:
        result = train_through(backend, config, DataSpec(args.data_dir, args.dataset), on_epoch=report)
    except ValueError as exc:
        print(_("error: {problem}").format(problem=say(exc, translation())), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_("interrupted"), file=sys.stderr)
        return 130
    if result.status == "failed":
        print(_("error: {problem}").format(problem=result.message), file=sys.stderr)
        return 2
    advice = lr_advice(config, result.epoch_costs, result.status, translation())
    if result.status == "diverged":
        print(_("error: {problem}").format(problem=advice[1]), file=sys.stderr)
        return 1

    evaluation = result.evaluation  # None with --no-evaluate-test: the test set was never scored
    # the tutorial's own line, in every language; a line that is not the tutorial's is the terminal's language
    print(f"Accuracy: {evaluation.accuracy:.4f}" if evaluation else _("Accuracy: not measured (--no-evaluate-test)"))
    print(_("({model} on {device}, {seconds} s of training, by {worker})").format(
        model=config.model, device=result.device, seconds=f"{result.train_seconds:.2f}", worker=result.worker),
        file=sys.stderr)
    if advice is not None:
        print(_("warning: {problem}").format(problem=advice[1]), file=sys.stderr)

    summary = run_summary(result, config, args.dataset)
    try:
        if args.save:
            write_output(args.save, _("checkpoint"), result.checkpoint)
        if args.json_summary:
            write_output(args.json_summary, _("summary"), (json.dumps(summary, indent=2) + "\n").encode())
    except ValueError as exc:
        print(_("error: {problem}").format(problem=exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
