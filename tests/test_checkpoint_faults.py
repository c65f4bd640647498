"""Checkpoints that are hostile, damaged or ask for too much: refused with a message, before any work."""

import dataclasses
import functools
import io
import os

import pytest
import torch

from mnist_core import CheckpointError, TrainConfig, build_model, load_checkpoint, save_checkpoint
from mnist_core import models as models_mod
from mnist_core.checkpoint import FORMAT


def checkpoint_bytes(**changes) -> bytes:
    """A good checkpoint of the linear model, with some of its entries replaced."""
    buffer = io.BytesIO()
    save_checkpoint(buffer, build_model("linear"), TrainConfig(), {"test_accuracy": 0.9})
    ckpt = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    ckpt.update(changes)
    out = io.BytesIO()
    torch.save(ckpt, out)
    return out.getvalue()


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_refusal_of_a_malicious_file_never_suggests_the_unsafe_fix():
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "payload": RunsCode()}, buffer)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(io.BytesIO(buffer.getvalue()))
    message = str(info.value)
    assert message.startswith("refused") and "could run code" in message
    assert "weights_only" not in message and "False" not in message


def test_truncated_file_says_truncated(tmp_path):
    data = checkpoint_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(io.BytesIO(data[:-30]))


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="could not read"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("key, value", [
    ("config", [1, 2, 3]), ("config", "lr=0.1"), ("model_args", [("width", 8)]),
    ("state_dict", None), ("metrics", [0.9]),
])
def test_entries_of_the_wrong_kind_are_refused(key, value):
    with pytest.raises(CheckpointError, match=f"damaged checkpoint: its {key}"):
        load_checkpoint(io.BytesIO(checkpoint_bytes(**{key: value})))


@pytest.mark.parametrize("config, field", [
    ({"lr": float("nan")}, "lr"), ({"lr": 1e39}, "lr"), ({"device": "meta"}, "device"),
    ({"batch_size": "many"}, "batch_size"), ({"seed": 2**64}, "seed"), ({"model": "resnet"}, "model"),
    ({"weight_decay": float("nan")}, "weight_decay"),
])
def test_bad_config_values_are_refused(config, field):
    with pytest.raises(CheckpointError, match=f"training config is not valid.*{field}"):
        load_checkpoint(io.BytesIO(checkpoint_bytes(config={**TrainConfig().to_dict(), **config})))


def test_model_arguments_are_checked_before_anything_is_built(monkeypatch):
    built = []

    def recording(**kw):  # stands in for the constructor: records the request, allocates nothing
        built.append(kw)
        raise RuntimeError("the model was built")

    spec = models_mod.model_spec("cnn")
    recording = functools.wraps(spec.build)(recording)  # the same signature, so the same arguments are accepted
    monkeypatch.setitem(models_mod._SPECS, "cnn", dataclasses.replace(spec, build=recording))
    data = checkpoint_bytes(model="cnn", model_args={"width": 1_000_000}, state_dict={}, config=None)
    assert len(data) < 2000  # a small file asking for a model of many gigabytes
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(io.BytesIO(data))
    assert built == []  # refused before the constructor ran: nothing was allocated
    assert "width must be between 1 and 256" in str(info.value)
    for args in ({"width": 8.5}, {"std": 0.0}, {"depth": 3}):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(io.BytesIO(checkpoint_bytes(model="cnn", model_args=args, config=None)))
        assert built == [], f"a model was built for {args}"
        assert "cannot be built" in str(info.value)


def test_a_good_checkpoint_still_loads():
    model, info = load_checkpoint(io.BytesIO(checkpoint_bytes()))
    assert model.registry_name == "linear" and info["config"] == TrainConfig()
    assert info["metrics"] == {"test_accuracy": 0.9}
