"""Plotly figures of the page."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COST, ACCURACY = "#4f46e5", "#059669"
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2), height=340)


def live_figure(costs: list[float], accuracies: list[float | None], epochs: int) -> go.Figure:
    """Epoch cost (left axis) and test accuracy (right axis) of one run."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = list(range(1, len(costs) + 1))
    fig.add_trace(go.Scatter(x=x, y=costs, name="cost (mean batch loss)", mode="lines+markers",
                             line=dict(color=COST)), secondary_y=False)
    acc_x = [e for e, a in zip(x, accuracies) if a is not None]
    acc_y = [100 * a for a in accuracies if a is not None]
    fig.add_trace(go.Scatter(x=acc_x, y=acc_y, name="test accuracy (%)", mode="lines+markers",
                             line=dict(color=ACCURACY, dash="dot")), secondary_y=True)
    fig.update_xaxes(title_text="epoch", range=[0.5, max(epochs, 1) + 0.5], dtick=max(1, epochs // 10))
    fig.update_yaxes(title_text="cost", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="test accuracy (%)", secondary_y=True, showgrid=False)
    fig.update_layout(title="Training", **_LAYOUT)
    return fig


def compare_figure(curves: list[tuple[str, list[float]]], log_y: bool = False) -> go.Figure:
    fig = go.Figure()
    for name, costs in curves:
        fig.add_trace(go.Scatter(x=list(range(1, len(costs) + 1)), y=costs, name=name, mode="lines+markers"))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="cost", type="log" if log_y else "linear")
    fig.update_layout(title="Cost per epoch, every run", **{**_LAYOUT, "height": 380})
    return fig


def confusion_figure(confusion: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    """Counts, true digit down, predicted across; the diagonal is dimmed so mistakes stand out."""
    off = confusion.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    fig = go.Figure(go.Heatmap(
        z=off, x=list(classes), y=list(classes), colorscale="Reds", text=confusion, texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>", showscale=False))
    fig.update_xaxes(title_text="predicted", side="top", type="category")
    fig.update_yaxes(title_text="true", autorange="reversed", type="category")
    fig.update_layout(title=dict(text="Confusion matrix (mistakes in red)", y=0.98),
                      **{**_LAYOUT, "height": 440, "margin": dict(l=10, r=10, t=90, b=10)})
    return fig


def per_class_figure(per_class: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(classes), y=100 * per_class, marker_color=ACCURACY,
                           text=[f"{100 * v:.1f}" for v in per_class], textposition="outside"))
    low = max(0.0, 100 * float(per_class.min()) - 5)
    fig.update_yaxes(title_text="accuracy (%)", range=[low, 100.5])
    fig.update_xaxes(title_text="true digit", type="category")
    fig.update_layout(title="Accuracy of each digit", **{**_LAYOUT, "height": 420})
    return fig


def weights_figure(weights: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    """(10, 784) weights of the linear model as ten 28x28 templates: red = evidence for, blue = against."""
    w = weights.reshape(10, 28, 28)
    limit = float(np.abs(w).max()) or 1.0
    fig = make_subplots(rows=2, cols=5, subplot_titles=list(classes), horizontal_spacing=0.02, vertical_spacing=0.08)
    for i in range(10):
        fig.add_trace(go.Heatmap(z=w[i], zmin=-limit, zmax=limit, colorscale="RdBu", reversescale=True,
                                 showscale=i == 0, hovertemplate="weight %{z:.3f}<extra></extra>"),
                      row=i // 5 + 1, col=i % 5 + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(margin=dict(l=10, r=10, t=30, b=10), height=360)
    return fig


DIGITS = tuple(str(d) for d in range(10))


def probabilities_figure(probs: np.ndarray, classes: tuple[str, ...] = DIGITS) -> go.Figure:
    best = int(np.argmax(probs))
    colors = [COST if i == best else "#c7d2fe" for i in range(len(probs))]
    fig = go.Figure(go.Bar(x=list(classes), y=100 * probs, marker_color=colors,
                           text=[f"{100 * p:.0f}%" for p in probs], textposition="outside"))
    fig.update_yaxes(title_text="probability (%)", range=[0, 110])
    fig.update_xaxes(type="category")
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), height=260)
    return fig
