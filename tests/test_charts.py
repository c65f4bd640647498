"""Figures and images the page draws, checked without a browser."""

import numpy as np

from dashboard import charts


def decode(values):
    """Plotly sends NumPy arrays as base64 typed arrays."""
    import base64
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def test_colour_tiles_lays_maps_out_on_one_scale():
    maps = np.stack([np.full((7, 7), v, float) for v in (-2.0, 0.0, 2.0, 1.0, -1.0)])
    image = charts.colour_tiles(maps, cols=3, tile=28, gap=4)
    assert image.dtype == np.uint8 and image.shape == (2 * 28 + 4, 3 * 28 + 4 * 2, 3)
    tile = lambda i: image[(i // 3) * 32 + 14, (i % 3) * 32 + 14]  # noqa: E731  (a tile's centre)
    assert tuple(tile(0)) != tuple(tile(2))                                   # -2 and +2 differ
    assert tile(1).min() > 235                                                # 0 is white on a diverging scale
    assert tile(2)[0] > tile(2)[2] and tile(0)[2] > tile(0)[0]               # positive red, negative blue
    assert (tile(3).astype(int) - 255).__abs__().sum() < (tile(2).astype(int) - 255).__abs__().sum()  # 1 paler than 2
    assert (image[28:32] == 255).all()                                        # the gap between rows


def test_the_weight_templates_are_one_image_each_tile_labelled_with_its_digit():
    weights = np.zeros((10, 784), np.float32)
    weights[3, 14 * 28 + 14] = 1.0  # one strong positive weight, in template 3
    image = charts.weights_image(weights, tuple(str(d) for d in range(10)))
    assert image.shape == (2 * 112 + 4, 5 * 112 + 4 * 4, 3)
    tile = lambda i: image[(i // 5) * 116:(i // 5) * 116 + 112, (i % 5) * 116:(i % 5) * 116 + 112]  # noqa: E731
    red = tile(3)[56:60, 56:60]
    assert (red[..., 0] > 100).all() and (red[..., 2] < 60).all()       # weight > 0: red, on the pixel's place
    for i in range(10):
        corner, rest = tile(i)[:24, :24], tile(i)[40:, 40:]
        assert corner.min() < 60                                          # the digit's name, dark ink
        if i != 3:
            assert rest.min() > 200                                       # zero weights: white


def test_the_map_is_built_once_and_the_star_added_to_a_copy():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.arange(30) % 10
    preds = labels.copy()
    preds[0] = 3
    figure = charts.test_map_figure(xy, labels, preds, np.arange(30), title="map")
    traces = len(figure["data"])
    starred = charts.with_star(figure, np.zeros((1, 2)))
    assert len(starred["data"]) == traces + 1 and len(figure["data"]) == traces  # the cached map is untouched
    points = lambda t: len(decode(t["x"]))  # noqa: E731
    assert sum(points(t) for t in figure["data"]) == 30
    assert [points(t) for t in figure["data"] if t["marker"]["symbol"] == "x"] == [1]   # the one mistake


def test_the_probability_chart_highlights_the_predicted_digit():
    probs = np.full(10, 0.05)
    probs[7] = 0.55
    fig = charts.probabilities_figure(probs)
    bar = fig.data[0]
    assert list(bar.x) == [str(d) for d in range(10)]
    assert len(set(bar.marker.color)) == 2 and bar.marker.color[7] != bar.marker.color[0]


def test_the_live_chart_puts_accuracy_on_a_fixed_0_to_100_panel_under_a_cost_from_0():
    failed = charts.live_figure([2.9, 2.7, 2.6], [0.0536, 0.08, 0.1118], 10)  # a run that never learned
    cost, accuracy = failed.layout.yaxis, failed.layout.yaxis2
    assert tuple(accuracy.range) == (0, 100)          # 11% sits near the bottom, not at the top like 92%
    assert cost.rangemode == "tozero"
    assert accuracy.overlaying is None and accuracy.domain[1] < cost.domain[0]   # two panels, no crossing axes
    assert failed.data[1].yaxis == "y2" and list(failed.data[1].y) == [5.36, 8.0, 11.18]


def test_the_compare_chart_keeps_its_height_and_a_short_legend_with_a_dozen_runs():
    curves = [charts.Curve(f"#{n}", [1.0, 0.5], hover=f"#{n} lr=0.1, optimizer=adam, batch_size=256")
              for n in range(1, 13)]
    fig = charts.compare_figure(curves)
    assert fig.layout.height == 380 and fig.layout.legend.orientation == "v"   # a column that scrolls, beside
    assert all(len(t.name) <= 3 for t in fig.data) and "optimizer=adam" in fig.data[0].hovertemplate


def test_the_colour_table_is_built_once_not_per_image(monkeypatch):
    import plotly.colors
    built = []
    sample = plotly.colors.sample_colorscale
    monkeypatch.setattr(plotly.colors, "sample_colorscale", lambda *a, **k: built.append(a[0]) or sample(*a, **k))
    charts._lut.cache_clear()
    for _ in range(3):
        charts.colour_tiles(np.ones((2, 4, 4)), cols=2)
    assert built == ["RdBu_r"]
