"""``python -m mnist_core`` (its ``main``, in this process) given bad values and bad output paths: one line, exit 2,
before any training."""

import os
from pathlib import Path

import pytest

from helpers import run_main
from mnist_core import TrainConfig
from mnist_core.__main__ import check_output_path


def assert_one_line_error(proc, message):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("mnist_core: error: ") and message in lines[0], proc.stderr
    assert lines[1:] == ["(see python -m mnist_core --help)"]


@pytest.mark.parametrize("args, message", [
    (["--lr", "1e39"], "lr must be between"),
    (["--lr", "inf"], "lr must be a positive number"),
    (["--lr", "nan"], "lr must be a positive number"),
    (["--device", "xla"], "unknown device 'xla'"),
    (["--device", "meta"], "unknown device 'meta'"),
    (["--model", "cnn", "--width", "100000000"], "width must be between 1 and 256"),
    (["--model", "mlp", "--width", "100000000"], "width must be between 1 and 8192"),
    (["--seed", str(2**64)], "seed must be between 0 and 2**63 - 1"),
    (["--seed", "-1"], "seed must be between 0 and 2**63 - 1"),
    (["--weight-decay", "nan"], "weight_decay must be a number >= 0"),
    (["--label-smoothing", "nan"], "label_smoothing must be in [0, 1)"),
    (["--lr", "fast"], "invalid float value"),
    (["--model", "resnet"], "invalid choice"),
])
def test_bad_values_give_one_line(args, message, tmp_path, capsys):
    assert_one_line_error(run_main(capsys, *args, "--data-dir", str(tmp_path)), message)


@pytest.mark.parametrize("field, value", [
    ("lr", 1e39), ("lr", 1e-9), ("device", "xla"), ("device", "meta"), ("seed", 2**63), ("seed", -1),
    ("weight_decay", float("nan")), ("label_smoothing", float("nan")), ("lr", "0.1"), ("epochs", 2.5),
    ("augment", 1),
])
def test_validate_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value}).validate()


def test_valid_edges_pass():
    TrainConfig(seed=2**63 - 1, lr=1e-7, device="cuda:3").validate()  # whether cuda:3 exists: resolve_device
    TrainConfig(model="cnn", width=256).validate()
    TrainConfig(model="mlp", width=8192, lr=1).validate()


def unwritable_folder() -> Path:
    """A folder where even root cannot create a file (sysfs), else skip."""
    folder = Path("/sys/kernel")
    try:
        (folder / "mnist-probe").open("ab").close()
    except OSError:
        return folder
    pytest.skip("no folder here refuses new files to this user")


@pytest.mark.parametrize("flag", ["--save", "--json-summary"])
@pytest.mark.parametrize("case", ["missing folder", "a directory", "unwritable folder", "read-only folder"])
def test_output_paths_are_checked_before_training(flag, case, tmp_path, capsys):
    data_dir = tmp_path / "no-data"  # training would fail on it: the path must be refused first
    if case == "missing folder":
        path, message = tmp_path / "nope" / "out", "does not exist"
    elif case == "a directory":
        path, message = tmp_path, "is a directory"
    elif case == "unwritable folder":
        path, message = unwritable_folder() / "out", "cannot be written: Permission denied"
    else:
        if os.geteuid() == 0:
            pytest.skip("permission bits do not stop root; the unwritable-folder case covers root")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        path, message = folder / "out", "cannot be written"
    proc = run_main(capsys, flag, str(path), "--data-dir", str(data_dir))
    assert_one_line_error(proc, f"{flag} {path}")
    assert message in proc.stderr and "Epoch" not in proc.stdout
    assert not data_dir.exists()


def test_the_check_leaves_no_file_behind_and_keeps_an_existing_one(tmp_path):
    fresh = tmp_path / "fresh.json"
    check_output_path(str(fresh), "--json-summary")
    assert not fresh.exists()
    kept = tmp_path / "kept.pt"
    kept.write_bytes(b"an older checkpoint")
    check_output_path(str(kept), "--save")
    assert kept.read_bytes() == b"an older checkpoint"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a disk that is always full)")
@pytest.mark.parametrize("flag, what", [("--save", "checkpoint"), ("--json-summary", "summary")])
def test_a_full_disk_at_write_time_is_a_message(flag, what, mnist_root, capsys):
    proc = run_main(capsys, "--epochs", "1", flag, "/dev/full", "--data-dir", str(mnist_root))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "Accuracy:" in proc.stdout
    assert f"error: could not write the {what} to /dev/full: No space left on device" in proc.stderr
