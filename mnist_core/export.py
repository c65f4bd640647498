"""A trained model for other tools: ONNX, through torch.onnx's exporter (optional packages: ``onnx`` and
``onnxscript``, in requirements-export.txt)."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os

import torch
from torch import nn


def onnx_available() -> bool:
    """Whether :func:`export_onnx` can run here (torch's exporter needs onnx and onnxscript)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript"))


def export_onnx(model: nn.Module, f: str | os.PathLike | io.IOBase) -> None:
    """Write ``model`` as ONNX: input ``image`` (N, 1, 28, 28) floats in [0, 1] (white ink on black, as MNIST),
    output ``logits`` (N, 10); N is free. The model's normalisation is inside it, as in PyTorch."""
    if not onnx_available():
        raise RuntimeError("ONNX export needs the onnx and onnxscript packages: pip install -r requirements-export.txt")
    model = copy.deepcopy(model).cpu().eval()  # the caller's model (maybe shared, maybe on a GPU) is left alone
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports its steps on stdout
        program = torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), input_names=["image"],
                                    output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                                    dynamo=True, verbose=False)
    data = program.model_proto.SerializeToString()
    if isinstance(f, io.IOBase):
        f.write(data)
    else:
        with open(f, "wb") as out:
            out.write(data)
