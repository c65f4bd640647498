"""A stroke gives the same prediction, probabilities, bars and 28x28 view as before its server work was cut
(benchmarks/README.md, section 15). ``data/recorded_strokes.json`` holds two canvas values Chromium sent (a "1"
and a "7", the capacity benchmark's) with what the page made of them before: the view, the shipped model's
probabilities and the probability bars."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dashboard import charts
from mnist_core import load_checkpoint, predict, to_mnist
from mnist_core.checkpoint import pretrained_path
from mnist_core.preprocess import _median3

RECORDED = json.loads((Path(__file__).parent / "data" / "recorded_strokes.json").read_text())


@pytest.fixture(scope="module")
def shipped_model():
    return load_checkpoint(pretrained_path(), device="cpu")[0]


def canvas(digit: str) -> np.ndarray:
    """The canvas as the page decodes it: RGBA (280, 280, 4)."""
    encoded = RECORDED[digit]["canvas_png"].split(";base64,", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))


@pytest.mark.parametrize("digit", sorted(RECORDED))
def test_a_recorded_stroke_reads_as_before(digit, shipped_model):
    before = RECORDED[digit]
    view = to_mnist(canvas(digit))
    assert view.tobytes().hex() == before["view"]
    probs = predict(shipped_model, view)
    assert int(probs.argmax()) == before["prediction"] == int(digit)
    np.testing.assert_allclose(probs, before["probabilities"], rtol=1e-5, atol=1e-7)


def test_the_bars_updated_for_a_stroke_are_the_bars_built_for_it():
    one, seven = (np.asarray(RECORDED[d]["probabilities"], np.float32) for d in ("1", "7"))
    reused = charts.show_probabilities(charts.probabilities_figure(one), seven)
    assert reused.to_plotly_json() == charts.probabilities_figure(seven).to_plotly_json()
    bar, before = reused.data[0], RECORDED["7"]["bars"]
    np.testing.assert_allclose(bar.y, before["y"], rtol=1e-5)
    assert list(bar.text) == before["text"] and list(bar.marker.color) == before["colors"]


@pytest.mark.parametrize("shape", [(256, 256), (256, 171), (7, 31), (3, 3), (1, 4)])
def test_the_median_filter_is_scipys(shape):
    rng = np.random.default_rng(sum(shape))
    for ink in (rng.random(shape, dtype=np.float32), (rng.random(shape) > 0.7).astype(np.float32)):
        assert np.array_equal(_median3(ink), ndimage.median_filter(ink, 3))


def test_each_stroke_shows_its_own_bars_and_another_language_its_own_axis(monkeypatch, shipped_model):
    """The page keeps one figure per session and updates it: a second stroke's bars are its own, and a change
    of language builds the figure again in that language."""
    import sys
    from types import SimpleNamespace

    from streamlit.testing.v1 import AppTest

    from helpers import ROOT

    drawn = {"image": canvas("1")}
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas",
                        SimpleNamespace(st_canvas=lambda **_: SimpleNamespace(image_data=drawn["image"])))

    def bars(at):
        spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
        return spec["data"][0]["text"], spec["layout"]["yaxis"]["title"]["text"]

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception and bars(at) == (RECORDED["1"]["bars"]["text"], "probability (%)")
    drawn["image"] = canvas("7")
    at.run()
    assert bars(at) == (RECORDED["7"]["bars"]["text"], "probability (%)")
    at.session_state["lang"] = "ko"
    at.run()
    assert not at.exception and bars(at)[1] != "probability (%)"
