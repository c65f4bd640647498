"""The inside views: every registry model, exact checks, and Captum's numbers for attribution."""

import copy
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from mnist_core import build_model, list_models
from mnist_core import explain as E
from mnist_core.models import model_spec, to_input


def a_digit(seed=0) -> np.ndarray:
    """A bright vertical stroke with a little noise: digit-like uint8 (28, 28)."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 12:16] = 255
    img[np.random.default_rng(seed).random((28, 28)) < 0.02] = 128
    return img


@pytest.mark.parametrize("name", list_models())
def test_every_model_shows_its_inside_for_a_digit(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = E.inside(model, a_digit())
    assert out["kind"] == {"linear": "linear", "mlp": "mlp", "cnn": "cnn"}.get(name, out["kind"])
    assert out["probabilities"].shape == (10,) and np.isclose(out["probabilities"].sum(), 1, atol=1e-5)
    assert out["attribution"].shape == (28, 28) and np.isfinite(out["attribution"]).all()
    view = out["view"]
    if out["kind"] == "linear":
        assert view["maps"].shape == (2, 28, 28)
    elif out["kind"] == "mlp":
        assert view["weights"].shape[1:] == (28, 28) and np.all(np.diff(view["activations"]) <= 0)
    else:
        assert view[0]["maps"].shape[0] == view[0]["total_channels"]      # every channel of the first block
        assert all(b["maps"].ndim == 3 and np.isfinite(b["maps"]).all() for b in view)
    feats = E.embedding(model, torch.as_tensor(np.stack([a_digit(s) for s in range(5)])))
    assert feats.ndim == 2 and feats.shape[0] == 5 and np.isfinite(feats).all()
    assert not model.training                                                # its mode left alone
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # and its weights


def mode_dependent(name):
    """The model with every layer whose result depends on the mode at work: dropout where it takes one."""
    torch.manual_seed(0)
    takes_dropout = "dropout" in inspect.signature(model_spec(name).build).parameters
    return build_model(name, **({"dropout": 0.5} if takes_dropout else {}))


@pytest.mark.parametrize("name", list_models())
def test_explain_computes_as_in_eval_mode_and_leaves_the_mode_alone(name):
    """A model in train mode (one being trained, say) is explained as in eval mode, and stays in train mode."""
    model = mode_dependent(name).eval()
    img, batch = a_digit(), torch.as_tensor(np.stack([a_digit(s) for s in range(4)]))
    want, want_features = E.inside(model, img), E.embedding(model, batch)
    with torch.inference_mode():
        want_logits = model(to_input(batch))
    model.train()
    if any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules()):
        with torch.inference_mode():
            assert not torch.allclose(copy.deepcopy(model)(to_input(batch)), want_logits)  # the mode matters here
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = E.inside(model, img)
    assert np.allclose(got["probabilities"], want["probabilities"], atol=1e-6)
    assert np.allclose(got["attribution"], want["attribution"], atol=1e-6)
    assert np.allclose(E.embedding(model, batch), want_features, atol=1e-5)
    for _ in range(2):   # the same answer every time: no dropout drawn, no batch statistics
        assert np.allclose(E.trace(model, batch).logits.numpy(), want_logits.numpy(), atol=1e-5)
    assert model.training and all(m.training for m in model.modules())                # its mode left alone
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())      # running statistics too


def test_the_linear_evidence_adds_up_to_the_scores():
    torch.manual_seed(1)
    model = build_model("linear").eval()
    img = a_digit()
    ev = E.evidence(model, img)
    logits = E.trace(model, img).logits[0].numpy()
    assert list(ev["digits"]) == list(np.argsort(-logits)[:2])
    assert np.allclose(ev["maps"].reshape(2, -1).sum(1) + ev["bias"], logits[ev["digits"]], atol=1e-4)


def test_integrated_gradients_are_complete():
    """The attributions add up to score(digit) - score(black image)."""
    torch.manual_seed(2)
    model = build_model("cnn").eval()
    img = a_digit()
    target = 3
    ig = E.integrated_gradients(model, img, target=target, steps=128)
    gap = E.trace(model, img).logits[0, target] - E.trace(model, np.zeros((28, 28), np.uint8)).logits[0, target]
    assert ig.sum() == pytest.approx(float(gap), rel=0.02, abs=1e-3)


@pytest.mark.parametrize("name", list_models())
def test_integrated_gradients_match_captum(name):
    captum = pytest.importorskip("captum.attr", reason="Captum is not installed (pip install -r requirements-dev.txt)")
    torch.manual_seed(3)
    model = build_model(name).eval()
    img = a_digit(4)
    ours = E.integrated_gradients(model, img, target=7, steps=50)
    x = torch.as_tensor(img).float().div(255).view(1, 1, 28, 28)
    theirs = captum.IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=7, n_steps=50,
                                                          method="gausslegendre")
    assert np.allclose(ours, theirs[0, 0].detach().numpy(), rtol=1e-4, atol=1e-6)


def test_the_test_map_places_a_new_digit_with_the_same_projection(mnist):
    from mnist_core import load_checkpoint
    from mnist_core.checkpoint import pretrained_path
    model, _ = load_checkpoint(pretrained_path())
    m = E.test_map(model, mnist, count=500)
    assert m.xy.shape == (500, 2) and len(set(m.indices)) == 500
    assert (m.labels == mnist.test_labels[m.indices].numpy()).all()
    assert (m.labels == m.predictions).mean() > 0.97
    again = m.projection.transform(E.embedding(model, mnist.test_images[m.indices[:3]]))
    assert np.allclose(again, m.xy[:3], atol=1e-4)
    # digits of one class sit closer together than digits of different classes
    centres = np.stack([m.xy[m.labels == d].mean(0) for d in range(10)])
    within = np.mean([np.linalg.norm(m.xy[m.labels == d] - centres[d], axis=1).mean() for d in range(10)])
    between = np.mean([np.linalg.norm(centres[a] - centres[b]) for a in range(10) for b in range(a)])
    assert within < between
