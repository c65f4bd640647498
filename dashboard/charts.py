"""Plotly figures of the page."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboard.i18n import _

COST, ACCURACY = "#4f46e5", "#059669"
CHANCE_ACCURACY = 10  # %: one digit in ten, what guessing scores
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2), height=340)


def live_figure(costs: list[float], accuracies: list[float | None], epochs: int) -> go.Figure:
    """Epoch cost (top panel) and test accuracy (bottom panel) of one run, on one epoch axis.

    Each panel has its own fixed scale: the cost from 0, the accuracy from 0 to 100%. Autoscaled axes made a
    failed run (accuracy 5-11%) climb to the top like a good one, and two overlaid axes crossed without
    meaning. Built as one figure with two axis domains rather than through ``make_subplots`` (22 ms to build
    instead of 30 ms); a live run's new epochs go in through :func:`set_live_points` (0.5 ms)."""
    fig = go.Figure([
        go.Scatter(name=_("cost (mean batch loss)"), mode="lines+markers", line=dict(color=COST)),
        go.Scatter(name=_("test accuracy (%)"), mode="lines+markers", xaxis="x2", yaxis="y2",
                   line=dict(color=ACCURACY)),
    ])
    set_live_points(fig, costs, accuracies)
    epoch_axis = dict(range=[0.5, max(epochs, 1) + 0.5], dtick=max(1, epochs // 10))
    fig.update_layout(
        title=_("Training"), **{**_LAYOUT, "height": 420}, showlegend=False,
        xaxis=dict(**epoch_axis, anchor="y", matches="x2", showticklabels=False),
        xaxis2=dict(**epoch_axis, anchor="y2", title_text=_("epoch")),
        yaxis=dict(title_text=_("cost"), rangemode="tozero", domain=[0.45, 1.0]),
        yaxis2=dict(title_text=_("test accuracy (%)"), range=[0, 100], dtick=20, domain=[0.0, 0.35]),
        shapes=[dict(type="line", xref="x2 domain", x0=0, x1=1, yref="y2", y0=CHANCE_ACCURACY, y1=CHANCE_ACCURACY,
                     line=dict(color="#9ca3af", dash="dot", width=1))],
        annotations=[dict(xref="x2 domain", x=1, xanchor="right", yref="y2", y=CHANCE_ACCURACY, yanchor="bottom",
                          text=_("guessing: 10%"), showarrow=False, font=dict(size=11, color="#6b7280"))])
    return fig


def set_live_points(fig: go.Figure, costs: list[float], accuracies: list[float | None]) -> None:
    """Put a run's epochs so far into its :func:`live_figure`, in place of the ones it showed."""
    x = list(range(1, len(costs) + 1))
    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = x, list(costs)
        fig.data[1].x = [e for e, a in zip(x, accuracies) if a is not None]
        fig.data[1].y = [100 * a for a in accuracies if a is not None]


@dataclass(frozen=True)
class Curve:
    """One run's cost curve on the compare chart."""

    name: str              # the legend's label: short (``#N``), so a dozen runs stay one readable column
    costs: list[float]
    hover: str = ""        # the settings that tell this run apart, shown on hover
    group: str = ""        # the sweep it belongs to ("" for a run on its own): one legend group, one hue
    color: str | None = None


def compare_figure(curves: list[Curve], log_y: bool = False) -> go.Figure:
    """Cost curves overlaid. The legend is a column on the right that scrolls when long: at the bottom it
    grew with every run and squeezed the plot to a strip."""
    fig = go.Figure()
    for c in curves:
        fig.add_trace(go.Scatter(
            x=list(range(1, len(c.costs) + 1)), y=c.costs, name=c.name, mode="lines+markers",
            line=dict(color=c.color), legendgroup=c.group or None, legendgrouptitle_text=c.group or None,
            hovertemplate=(c.hover or c.name) + "<br>" + _("epoch %{x}: cost %{y:.4g}") + "<extra></extra>"))
    fig.update_xaxes(title_text=_("epoch"),
                     dtick=1 if max((len(c.costs) for c in curves), default=0) <= 10 else None)
    fig.update_yaxes(title_text=_("cost"), type="log" if log_y else "linear", rangemode="tozero")
    fig.update_layout(title=_("Cost per epoch, every run"), **{**_LAYOUT, "height": 380, "legend": dict(
        orientation="v", x=1.02, y=1, yanchor="top", groupclick="toggleitem")})
    return fig


def confusion_figure(confusion: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    """Counts, true digit down, predicted across; the diagonal is dimmed so mistakes stand out."""
    off = confusion.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    fig = go.Figure(go.Heatmap(
        z=off, x=list(classes), y=list(classes), colorscale="Reds", text=confusion, texttemplate="%{text}",
        hovertemplate=_("true %{y}, predicted %{x}: %{text}") + "<extra></extra>", showscale=False))
    fig.update_xaxes(title_text=_("predicted"), side="top", type="category")
    fig.update_yaxes(title_text=_("true"), autorange="reversed", type="category")
    fig.update_layout(title=dict(text=_("Confusion matrix (mistakes in red)"), y=0.98),
                      **{**_LAYOUT, "height": 440, "margin": dict(l=10, r=10, t=90, b=10)})
    return fig


def per_class_figure(per_class: np.ndarray, classes: tuple[str, ...]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(classes), y=100 * per_class, marker_color=ACCURACY,
                           text=[f"{100 * v:.1f}" for v in per_class], textposition="outside"))
    low = max(0.0, 100 * float(per_class.min()) - 5)
    fig.update_yaxes(title_text=_("accuracy (%)"), range=[low, 100.5])
    fig.update_xaxes(title_text=_("true digit"), type="category")
    fig.update_layout(title=_("Accuracy of each digit"), **{**_LAYOUT, "height": 420})
    return fig


@functools.cache
def _lut(name: str) -> np.ndarray:
    """A Plotly colour scale as a (256, 3) uint8 lookup table, built once per process: Plotly's colour helpers
    took a fifth of a stroke's server time when it was built for every image (benchmarks/README.md, section 15)."""
    from plotly.colors import sample_colorscale, unlabel_rgb
    lut = np.array([unlabel_rgb(c) for c in sample_colorscale(name, np.linspace(0, 1, 256))], dtype=np.uint8)
    lut.flags.writeable = False  # shared by every session
    return lut


def colour_tiles(maps: np.ndarray, cols: int, diverging: bool = True, tile: int = 84, gap: int = 4) -> np.ndarray:
    """Small maps as ONE RGB image, ``cols`` per row, each scaled up to ``tile`` pixels (nearest), one colour
    scale for all: diverging (red = positive, blue = negative, white = 0) or 0-to-max (Viridis). One image
    per view keeps a stroke's redraw light: a browser decodes one PNG faster than it lays out dozens of plots."""
    name = "RdBu_r" if diverging else "Viridis"
    lut = _lut(name)
    limit = float(np.abs(maps).max()) or 1.0
    scaled = (maps / limit + 1) / 2 if diverging else np.clip(maps / limit, 0, 1)
    rgb = lut[np.clip((scaled * 255).round().astype(int), 0, 255)]                 # (n, h, w, 3)
    n, h, w, _channels = rgb.shape
    reps = max(1, tile // max(h, w))
    rgb = rgb.repeat(reps, axis=1).repeat(reps, axis=2)
    rows = -(-n // cols)
    th, tw = rgb.shape[1:3]
    out = np.full((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (th + gap):r * (th + gap) + th, c * (tw + gap):c * (tw + gap) + tw] = rgb[i]
    return out


def labelled_tiles(maps: np.ndarray, labels: list[str], cols: int, tile: int = 112, gap: int = 4) -> np.ndarray:
    """:func:`colour_tiles` (diverging) with each tile's name written in its top-left corner."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(colour_tiles(maps, cols, diverging=True, tile=tile, gap=gap))
    draw = ImageDraw.Draw(image)
    side = (image.width + gap) // cols  # a tile and its gap (tiles are square)
    for i, label in enumerate(labels):
        r, c = divmod(i, cols)
        draw.text((c * side + 4, r * side + 2), label, fill=(0, 0, 0), font_size=max(12, tile // 6))
    return np.asarray(image)


def weights_image(weights: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The linear model's ten weight templates (10, 28, 28) as one image: red = evidence for, blue = against.
    One image rather than ten Plotly heatmaps: the finished page draws it in a fraction of the time."""
    return labelled_tiles(weights.reshape(10, 28, 28), list(classes), cols=5)


def test_map_figure(xy: np.ndarray, labels: np.ndarray, predictions: np.ndarray, indices: np.ndarray,
                    title: str = "") -> dict:
    """Test digits on the model's 2-D map (WebGL), coloured by true digit, mistakes as crosses; each point
    carries its test-set index (customdata) for selection. A plain dict, built once per model:
    :func:`with_star` adds the digit looked at without rebuilding 2,000 points."""
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    for d in range(10):
        for wrong in (False, True):
            keep = (labels == d) & ((predictions != labels) == wrong)
            if not keep.any():
                continue
            fig.add_trace(go.Scattergl(
                x=xy[keep, 0], y=xy[keep, 1], mode="markers", name=str(d), legendgroup=str(d), showlegend=not wrong,
                customdata=np.stack([indices[keep], predictions[keep]], 1),
                marker=dict(color=palette[d], size=9 if wrong else 5, symbol="x" if wrong else "circle",
                            opacity=1 if wrong else 0.55, line=dict(width=0)),
                hovertemplate=_("true {digit}, predicted %{{customdata[1]}}<br>test image #%{{customdata[0]}}")
                .format(digit=d) + "<extra></extra>"))
    fig.update_xaxes(showticklabels=False, title_text=_("first principal component"))
    fig.update_yaxes(showticklabels=False, title_text=_("second principal component"))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), height=460,
                      legend=dict(title=_("true digit")))
    return fig.to_plotly_json()


def with_star(figure: dict, point: np.ndarray | None) -> dict:
    """The map with the digit looked at as a star (a new dict; the cached map is left as it is)."""
    if point is None:
        return figure
    star = go.Scattergl(x=point[:, 0], y=point[:, 1], mode="markers", name=_("yours"),
                        marker=dict(symbol="star", size=22, color="black", line=dict(color="white", width=2)),
                        hovertemplate=_("the digit looked at") + "<extra></extra>").to_plotly_json()
    return {**figure, "data": [*figure["data"], star]}


DIGITS = tuple(str(d) for d in range(10))


def probabilities_figure(probs: np.ndarray, classes: tuple[str, ...] = DIGITS) -> go.Figure:
    """The ten probabilities as bars, the predicted digit's highlighted. A stroke updates the figure of the
    stroke before (:func:`show_probabilities`) rather than build one: Plotly validates every property of a new
    figure, 10 ms of a stroke's 30 (benchmarks/README.md, section 15)."""
    fig = go.Figure(go.Bar(x=list(classes), textposition="outside"))
    fig.update_yaxes(title_text=_("probability (%)"), range=[0, 110])
    fig.update_xaxes(type="category")
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), height=260)
    return show_probabilities(fig, probs)


def show_probabilities(fig: go.Figure, probs: np.ndarray) -> go.Figure:
    """A :func:`probabilities_figure` (of the same classes) now showing ``probs``, changed in place."""
    best = int(np.argmax(probs))
    fig.data[0].update(y=100 * probs, marker_color=[COST if i == best else "#c7d2fe" for i in range(len(probs))],
                       text=[f"{100 * p:.0f}%" for p in probs])
    return fig
