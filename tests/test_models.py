import pytest
import torch

from mnist_core import build_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_trains_a_step(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.rand(8, 1, 28, 28)
    y = torch.randint(0, 10, (8,))
    logits = model(x)
    assert logits.shape == (8, 10)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, y).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert model.registry_name == name


def test_linear_is_the_tutorials():
    model = build_model("linear")
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 1 and layers[0].in_features == 784 and layers[0].out_features == 10
    assert layers[0].bias is not None


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer")
