import io
import os

import pytest
import torch

from mnist_core import (CheckpointError, TrainConfig, build_model, list_models, load_checkpoint,
                        save_checkpoint)

from helpers import round_trips


@pytest.mark.parametrize("name", list_models())
def test_round_trip(tmp_path, name):
    round_trips(name, tmp_path)


def test_round_trip_in_memory_keeps_normalisation():
    model = build_model("mlp", width=32, mean=0.5, std=0.25)
    buf = io.BytesIO()
    save_checkpoint(buf, model)
    buf.seek(0)
    loaded, info = load_checkpoint(buf)
    assert loaded.registry_args == {"width": 32, "mean": 0.5, "std": 0.25}
    assert float(loaded[0].mean) == 0.5 and float(loaded[0].std) == 0.25
    assert info["config"] is None


class MakesAFolder:
    """Unpickling this creates a folder: the sign that code in the file ran."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __reduce__(self):
        return (os.makedirs, (self.folder,))


def test_arbitrary_pickles_are_refused(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    save_checkpoint(path, build_model("linear"), TrainConfig())
    valid = torch.load(path, weights_only=True)
    # an otherwise valid checkpoint whose metrics would run os.makedirs when unpickled
    torch.save({**valid, "metrics": {"note": MakesAFolder(marker)}}, path)
    with pytest.raises(CheckpointError, match="could run code when loaded"):
        load_checkpoint(path)
    assert not marker.exists()


def test_garbage_and_missing(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"some": "dict"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mnist_core checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
