"""The inside views: every registry model, exact checks, and Captum's numbers for attribution."""

import numpy as np
import pytest
import torch

from mnist_core import build_model, list_models
from mnist_core import explain as E

from helpers import a_digit, explains_as_in_eval_mode, shows_its_inside


@pytest.mark.parametrize("name", list_models())
def test_every_model_shows_its_inside_for_a_digit(name):
    shows_its_inside(name)




@pytest.mark.parametrize("name", list_models())
def test_explain_computes_as_in_eval_mode_and_leaves_the_mode_alone(name):
    """A model in train mode (one being trained, say) is explained as in eval mode, and stays in train mode."""
    explains_as_in_eval_mode(name)


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
