"""``python -m mnist_core``: as a user runs it, in a subprocess, for the tutorial's output and an exit status
(marked ``e2e``, out of the fast loop); its ``main`` in this process for everything else (no interpreter and
torch import to wait for each time)."""

import json
import re
from dataclasses import fields

import pytest
import torch

from helpers import run_cli, run_main
from mnist_core import TrainConfig, load_checkpoint, resolve_device


@pytest.mark.e2e   # a fresh interpreter, as a user runs it
def test_the_tutorials_run(mnist_root, tmp_path):
    summary = tmp_path / "summary.json"
    ckpt = tmp_path / "model.pt"
    proc = run_cli("--json-summary", str(summary), "--save", str(ckpt), env={"MNIST_DATA_DIR": str(mnist_root)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 11
    for i, line in enumerate(lines[:10], start=1):
        assert re.fullmatch(rf"Epoch: {i:03d} cost = \d\.\d{{9}}", line), line
    match = re.fullmatch(r"Accuracy: (0\.\d{4})", lines[10])
    assert match and 0.90 <= float(match.group(1)) <= 0.93
    data = json.loads(summary.read_text())
    assert abs(data["test_accuracy"] - float(match.group(1))) < 1e-4
    assert data["device"] == str(resolve_device("auto")) and len(data["epoch_costs"]) == 10 and data["train_seconds"] > 0
    model, info = load_checkpoint(ckpt)
    assert model.registry_name == "linear" and info["config"].lr == 0.1


def test_flags_override_the_config(mnist_root, tmp_path, capsys):
    summary = tmp_path / "s.json"
    proc = run_main(capsys, "--data-dir", str(mnist_root), "--epochs", "2", "--lr", "0.5", "--batch-size", "600",
                    "--optimizer", "momentum", "--seed", "7", "--json-summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Epoch:") == 2
    config = json.loads(summary.read_text())["config"]
    assert (config["epochs"], config["lr"], config["batch_size"], config["optimizer"], config["seed"]) == (2, 0.5, 600, "momentum", 7)


@pytest.mark.parametrize("args, message", [
    (["--lr", "fast"], "invalid float value"),
    (["--lr", "-1"], "lr must be a positive number"),
    (["--model", "resnet"], "invalid choice"),
    (["--epochs", "0"], "epochs must be at least 1"),
    (["--no-such-flag"], "unrecognized arguments"),
])
def test_bad_flags_exit_2_without_traceback(args, message, tmp_path, capsys):
    proc = run_main(capsys, *args, "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_a_bad_flag_exits_2_from_the_terminal(tmp_path):
    proc = run_cli("--lr", "fast", "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "invalid float value" in proc.stderr and "Traceback" not in proc.stderr


def test_a_gpu_that_is_not_there_exits_2_naming_it(tmp_path, capsys):
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    proc = run_main(capsys, "--device", f"cuda:{count}", "--data-dir", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (f"no GPU {count}: this machine has {count}" if count else "no CUDA GPU is available") in proc.stderr


def test_missing_data_offline_exits_2_with_a_message(tmp_path, offline, capsys):
    proc = run_main(capsys, "--data-dir", str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "MNIST data not found" in proc.stderr and "MNIST_DATA_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_documents_every_field(capsys):
    proc = run_main(capsys, "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    for f in fields(TrainConfig):
        assert "--" + f.name.replace("_", "-") in text, f.name
        assert " ".join(f.metadata["help"].split()) in text, f.name
    for flag in ["--data-dir", "--save", "--json-summary", "--preset"]:
        assert flag in text


def test_model_alone_picks_its_preset_and_flags_still_override(mnist_root, tmp_path, capsys):
    summary = tmp_path / "s.json"
    proc = run_main(capsys, "--data-dir", str(mnist_root), "--model", "cnn", "--epochs", "1", "--width", "8",
                    "--json-summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(summary.read_text())
    config = data["config"]
    assert (config["model"], config["optimizer"], config["schedule"], config["epochs"], config["width"]) == (
        "cnn", "adam", "onecycle", 1, 8)
    assert data["test_accuracy"] > 0.95 and data["train_seconds"] > 0


def test_no_evaluate_test_never_scores_the_test_set(mnist_root, tmp_path, capsys):
    summary = tmp_path / "s.json"
    proc = run_main(capsys, "--data-dir", str(mnist_root), "--epochs", "2", "--no-evaluate-test",
                    "--validation-size", "5000", "--json-summary", str(summary))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "Accuracy: not measured (--no-evaluate-test)"
    data = json.loads(summary.read_text())
    assert data["test_accuracy"] is None and data["test_accuracies"] == [None, None]


def test_preset_flag():
    from mnist_core.__main__ import build_parser, config_from_args
    config = config_from_args(build_parser().parse_args(["--preset", "cnn-best", "--epochs", "3"]))
    assert config.model == "cnn" and config.augment and config.width == 32 and config.epochs == 3


def test_a_learning_rate_too_small_is_a_warning_on_stderr_only(mnist_root, capsys):
    proc = run_main(capsys, "--data-dir", str(mnist_root), "--lr", "0.0001", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and re.fullmatch(r"Epoch: 001 cost = 2\.\d{9}", lines[0])
    assert re.fullmatch(r"Accuracy: 0\.\d{4}", lines[1])
    warning = proc.stderr.strip().splitlines()[-1]
    assert warning.startswith("warning: The cost ended at") and "0.0001 is probably too small" in warning
