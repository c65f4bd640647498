"""What the page shows of a model's inside, for one digit or for the test set.

Plain functions: a model and uint8 images (28, 28) in, NumPy arrays out.
Every registry model is an ``nn.Sequential``; every view walks it layer by
layer (no hooks, so a model shared between visitors is safe to explain from
several threads at once) and computes what the model computes in eval mode
(batch norm with its running statistics, no dropout) whatever its mode, which
it never changes: flipping the mode of a model that another thread is
training or explaining would change that thread's results.

- :func:`evidence`, linear model: weight x pixel for the predicted digit and
  the runner-up — which strokes voted for which digit.
- :func:`hidden_units`, MLP: the hidden units that fired most, with their
  input weights as 28x28 images.
- :func:`feature_maps`, CNN: each convolution block's output for this input.
- :func:`integrated_gradients`, any model: attribution over the 28x28 input.
- :func:`embedding` / :func:`test_map`: the last hidden features (the class
  scores for the linear model) of test digits, projected to 2-D by PCA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models import to_input


def _as_batch(images, device) -> torch.Tensor:
    """uint8 (28, 28) or (N, 28, 28), NumPy or torch -> float (N, 1, 28, 28) in [0, 1] on ``device``."""
    x = torch.as_tensor(np.array(images, dtype=np.uint8, copy=True)) if not torch.is_tensor(images) else images
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.shape[-2:] != (28, 28):
        raise ValueError(f"expected 28x28 images (see to_mnist), got shape {tuple(x.shape)}")
    return to_input(x.to(device))


def _layers(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"explain needs an nn.Sequential model, got {type(model).__name__}")
    return list(model)


def _as_in_eval_mode(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` as ``layer.eval()`` would compute it, without setting the mode (the two layers of
    the registry whose result depends on it: batch norm and dropout)."""
    if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.running_mean is not None:
        return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias,
                            training=False, eps=layer.eps)
    if isinstance(layer, nn.modules.dropout._DropoutNd):
        return x
    return layer(x)


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits for ``x``, as in eval mode."""
    for layer in _layers(model):
        x = _as_in_eval_mode(layer, x)
    return x


@dataclass
class Trace:
    hidden: list[torch.Tensor]   # the output of each ReLU, in order: (N, C, H, W) or (N, units)
    features: torch.Tensor       # the input of the last Linear layer: (N, D)
    logits: torch.Tensor         # (N, 10)


def trace(model: nn.Module, images) -> Trace:
    """Run ``model`` on ``images`` layer by layer, keeping what the views need."""
    layers = _layers(model)
    last_linear = max(i for i, m in enumerate(layers) if isinstance(m, nn.Linear))
    x = _as_batch(images, next(model.parameters()).device)
    hidden, features = [], None
    with torch.inference_mode():
        for i, layer in enumerate(layers):
            if i == last_linear:
                features = x.flatten(1)
            x = _as_in_eval_mode(layer, x)
            if isinstance(layer, nn.ReLU):
                hidden.append(x.clone())  # the next layer may work in place
    return Trace(hidden, features, x)


def _the_linear_layer(model: nn.Module, what: str) -> nn.Linear:
    linear = [m for m in _layers(model) if isinstance(m, nn.Linear)]
    if len(linear) != 1 or linear[0].in_features != 784:
        raise ValueError(f"{what} are for the linear model (one Linear(784, 10) layer)")
    return linear[0]


def linear_templates(model: nn.Module) -> np.ndarray:
    """Linear model: its ten weight templates, (10, 28, 28) float32, one per digit (red = for, blue = against)."""
    return _the_linear_layer(model, "weight templates").weight.detach().cpu().numpy().reshape(10, 28, 28)


def evidence(model: nn.Module, image28) -> dict:
    """Linear model: for the top two digits, each pixel's vote (weight x normalised pixel), as 28x28 maps.

    The two maps plus the bias give each digit's score exactly.
    """
    layers = _layers(model)
    linear = [_the_linear_layer(model, "evidence maps")]
    x = _as_batch(image28, linear[0].weight.device)
    with torch.inference_mode():
        for layer in layers:
            if isinstance(layer, nn.Flatten):
                break
            x = _as_in_eval_mode(layer, x)        # the normalisation, as the model sees the pixels
        pixels = x.flatten()                      # (784,)
        votes = linear[0].weight * pixels         # (10, 784)
        scores = votes.sum(1) + linear[0].bias    # (10,)
    top = scores.argsort(descending=True)[:2]
    return {"digits": top.cpu().numpy(), "scores": scores[top].cpu().numpy(),
            "bias": linear[0].bias[top].detach().cpu().numpy(),
            "maps": votes[top].reshape(2, 28, 28).cpu().numpy()}


def hidden_units(model: nn.Module, image28, k: int = 8) -> dict:
    """MLP: the ``k`` hidden units that fired most for this input, their activations and input weights."""
    t = trace(model, image28)
    if len(t.hidden) != 1 or t.hidden[0].dim() != 2:
        raise ValueError("hidden units are shown for a model with one hidden layer of units (mlp)")
    act = t.hidden[0][0]                                         # (units,)
    top = act.argsort(descending=True)[:k]
    first = next(m for m in _layers(model) if isinstance(m, nn.Linear))
    weights = first.weight.detach()[top].reshape(-1, 28, 28)     # (k, 28, 28)
    return {"units": top.cpu().numpy(), "activations": act[top].cpu().numpy(),
            "weights": weights.cpu().numpy(), "active": int((act > 0).sum()), "total": int(act.numel())}


def feature_maps(model: nn.Module, image28, strongest: int = 8) -> list[dict]:
    """CNN: each block's feature maps for this input, in order: every channel of the first block,
    the ``strongest`` channels (by mean activation) of the deeper ones."""
    t = trace(model, image28)
    blocks = [h[0] for h in t.hidden if h.dim() == 4]             # each (C, H, W)
    if not blocks:
        raise ValueError("feature maps are shown for convolutional models")
    out = []
    for i, maps in enumerate(blocks):
        order = maps.mean((1, 2)).argsort(descending=True)
        keep = order if i == 0 else order[:strongest]
        out.append({"block": i + 1, "channels": keep.cpu().numpy(), "maps": maps[keep].cpu().numpy(),
                    "total_channels": int(maps.shape[0])})
    return out


def integrated_gradients(model: nn.Module, image28, target: int | None = None, steps: int = 32) -> np.ndarray:
    """Integrated gradients of the ``target`` digit's score (default: the predicted one) over the input
    pixels, from a black image (MNIST's background) to the digit: (28, 28). The path integral is taken
    with ``steps``-point Gauss-Legendre quadrature (as Captum does by default), all points in one batch;
    the sum over pixels equals score(digit) - score(black), up to the quadrature's error."""
    device = next(model.parameters()).device
    x = _as_batch(image28, device)                                    # (1, 1, 28, 28)
    if target is None:
        target = int(trace(model, image28).logits.argmax(1))
    nodes, weights = np.polynomial.legendre.leggauss(steps)           # on [-1, 1]
    alphas = torch.as_tensor((nodes + 1) / 2, dtype=x.dtype, device=device).view(-1, 1, 1, 1)
    weights = torch.as_tensor(weights / 2, dtype=x.dtype, device=device).view(-1, 1, 1, 1)
    with torch.enable_grad():
        path = (alphas * x).requires_grad_(True)                       # (steps, 1, 28, 28)
        scores = _forward(model, path)[:, target]
        grads, = torch.autograd.grad(scores.sum(), path)               # only the input's gradient
    return (x[0] * (grads * weights).sum(0))[0].detach().cpu().numpy()


def _embed(model: nn.Module, images_u8, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D), predicted digits (N,)) in one pass."""
    layers = _layers(model)
    scores_only = not any(isinstance(m, (nn.ReLU, nn.Conv2d)) for m in layers)  # the linear model
    feats, preds = [], []
    for i in range(0, len(images_u8), batch):
        t = trace(model, images_u8[i:i + batch])
        feats.append(t.logits if scores_only else t.features)
        preds.append(t.logits.argmax(1))
    return torch.cat(feats).float().cpu().numpy(), torch.cat(preds).cpu().numpy()


def embedding(model: nn.Module, images_u8) -> np.ndarray:
    """The last hidden features of each image (the class scores for the linear model): (N, D)."""
    return _embed(model, images_u8)[0]


@dataclass
class Projection:
    """PCA to 2-D, fitted once; places new points (a drawn digit) on the same map."""

    mean: np.ndarray        # (D,)
    components: np.ndarray  # (2, D)

    @classmethod
    def fit(cls, features: np.ndarray) -> "Projection":
        x = torch.as_tensor(features, dtype=torch.float64)
        mean = x.mean(0)
        _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
        components = vh[:2]
        # a fixed sign, so the same model always draws the same map
        signs = torch.sign(components[torch.arange(2), components.abs().argmax(1)])
        return cls(mean.numpy(), (components * signs[:, None]).numpy())

    def transform(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.mean) @ self.components.T   # (N, 2)


@dataclass
class TestMap:
    xy: np.ndarray          # (N, 2) map coordinates
    indices: np.ndarray     # (N,) test-set indices
    labels: np.ndarray      # (N,) true digits
    predictions: np.ndarray  # (N,)
    projection: Projection


def test_map(model: nn.Module, data, count: int = 2000, seed: int = 0) -> TestMap:
    """``count`` test digits (a fixed random sample) placed on the model's 2-D PCA map."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.test_images), generator=gen)[:count].sort().values
    images = data.test_images[idx.to(data.test_images.device)]
    feats, preds = _embed(model, images)
    projection = Projection.fit(feats)
    labels = data.test_labels[idx.to(data.test_labels.device)].cpu().numpy()
    return TestMap(projection.transform(feats), idx.numpy(), labels, preds, projection)


def kind(model: nn.Module) -> str:
    """Which inside view fits: ``linear`` (no hidden layer), ``cnn`` (convolutions) or ``mlp``."""
    layers = _layers(model)
    if any(isinstance(m, nn.Conv2d) for m in layers):
        return "cnn"
    return "mlp" if any(isinstance(m, nn.ReLU) for m in layers) else "linear"


def inside(model: nn.Module, image28) -> dict:
    """Everything the page shows for one digit: probabilities, the model's own view, and attribution."""
    logits = trace(model, image28).logits[0]
    view = kind(model)
    own = {"linear": evidence, "mlp": hidden_units, "cnn": feature_maps}[view](model, image28)
    return {"kind": view, "probabilities": logits.softmax(0).cpu().numpy(), "view": own,
            "attribution": integrated_gradients(model, image28, target=int(logits.argmax()))}
