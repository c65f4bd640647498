"""ONNX export: the file answers as the PyTorch model does (checked with ONNX Runtime)."""

import io

import numpy as np
import pytest
import torch

from mnist_core import build_model, list_models
from mnist_core.export import export_onnx, onnx_available
from mnist_core.models import to_input

ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (requirements-dev.txt)")
pytestmark = pytest.mark.skipif(not onnx_available(), reason="onnx and onnxscript are not installed")


def probabilities(model, x):
    with torch.inference_mode():
        return model(x).softmax(1).numpy()


@pytest.mark.parametrize("name", list_models())
def test_onnx_answers_like_pytorch(name, mnist):
    torch.manual_seed(0)
    model = build_model(name).eval()
    if name == "linear":  # a trained one too: the tutorial's model after one epoch's worth of steps
        from mnist_core import TrainConfig, train
        model = train(TrainConfig(epochs=1, device="cpu"), mnist).model.eval()
    buffer = io.BytesIO()
    export_onnx(model, buffer)
    session = ort.InferenceSession(buffer.getvalue())
    x = to_input(mnist.test_images[:300])                                  # any batch size: 300 here
    got = session.run(None, {"image": x.numpy()})[0]
    want = model(x).detach().numpy()
    assert got.shape == (300, 10)
    assert np.array_equal(got.argmax(1), want.argmax(1))
    assert np.allclose(torch.tensor(got).softmax(1).numpy(), probabilities(model, x), atol=1e-5)


def test_export_leaves_the_model_alone():
    model = build_model("mlp").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, io.BytesIO())
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
