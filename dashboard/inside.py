"""Inside the model, for the digit just drawn or a test image picked on the map or from the mistakes.

Every computation is a ``mnist_core.explain`` call; this module only draws.
It runs on a page of its own (dashboard/pages/inside.py), for the digit drawn on
the card's page: a stroke there never computes these views nor sends the map.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import charts, resources, session
from mnist_core import DataError, explain

MAP_DIGITS = 2000
SOURCES = ("your drawing", "a test image")


@st.cache_resource(max_entries=16, show_spinner="Placing 2,000 test digits on the model's map…")
def test_map(model_key: str, _model):
    """The test set's map for one model and its figure, made once per model (``model_key`` names it)."""
    tm = explain.test_map(_model, resources.mnist(), count=MAP_DIGITS)
    what = "class scores" if explain.kind(_model) == "linear" else "last hidden features"
    figure = charts.test_map_figure(tm.xy, tm.labels, tm.predictions, tm.indices,
                                    title=f"The model's map of {MAP_DIGITS:,} test digits ({what}, PCA)")
    return tm, figure, what


def picked_on_map() -> None:
    """A click on a map point explains that test image."""
    points = st.session_state["test-map"].selection.points
    if points:
        st.session_state.inside_source = SOURCES[1]
        st.session_state.inside_index = int(points[0]["customdata"][0])


def inside_section(model, model_key: str, drawn: np.ndarray | None) -> None:
    st.subheader("Inside the model")
    ss = st.session_state
    ss.setdefault("inside_source", SOURCES[0])
    ss.setdefault("inside_index", 0)
    left, right = st.columns([1, 2])
    source = left.radio("Look inside for", SOURCES, key="inside_source", horizontal=True)
    try:
        data = resources.mnist()
    except DataError as exc:  # the drawing's own views need no data; the test images and the map do
        st.warning(f"Test images are unavailable: {exc}")
        if drawn is not None:
            views(model, drawn)
        return
    if source == SOURCES[1]:
        right.number_input("Test image #", min_value=0, max_value=len(data.test_images) - 1, step=1,
                           key="inside_index", help="Or click a point on the map below, or pick a mistake.")
        mistakes = mistake_choices()
        if mistakes:
            right.selectbox("…or one of the latest run's most confident mistakes", list(mistakes), index=None,
                            key="inside_mistake", format_func=mistakes.get, on_change=picked_mistake)
        digit = data.test_images[ss.inside_index].numpy()
        st.caption(f"Test image #{ss.inside_index}: a {int(data.test_labels[ss.inside_index])}.")
    else:
        digit = drawn
        if digit is None:
            st.info("Draw a digit on the Train page to look inside the model for it, or choose a test image.")
    if digit is not None:
        views(model, digit)
    tm, figure, what = test_map(model_key, model)
    point = tm.projection.transform(explain.embedding(model, digit[None])) if digit is not None else None
    st.plotly_chart(charts.with_star(figure, point), width="stretch", key="test-map", on_select=picked_on_map,
                    selection_mode="points")
    st.caption("Each dot is a test digit, placed by what the model computes of it (its "
               f"{what}, projected on their two main directions); crosses are its mistakes, the star is the digit "
               "looked at. Click a dot to look inside for that test image.")


def mistake_choices() -> dict[int, str]:
    run = session.latest_finished()
    if run is None:
        return {}
    top = run.evaluation.mistakes(limit=40)
    return {int(i): f"#{i}: {t} read as {p} ({100 * c:.0f}%)" for i, t, p, c in
            zip(top.indices, top.true, top.pred, top.confidence)}


def picked_mistake() -> None:
    if st.session_state.inside_mistake is not None:
        st.session_state.inside_index = st.session_state.inside_mistake


def views(model, digit: np.ndarray) -> None:
    """The model's own view and the attribution, each drawn as one image (light to redraw on every stroke)."""
    out = explain.inside(model, digit)
    best = int(out["probabilities"].argmax())
    view = out["view"]
    with st.container(key="inside-views"):
        if out["kind"] == "linear":
            a, b = (int(d) for d in view["digits"])
            st.markdown(f"**Evidence.** Each pixel's vote, weight × pixel: red pixels count for the digit, blue "
                        f"ones against. The score of {a} is {view['scores'][0]:.2f}, of {b} {view['scores'][1]:.2f}.")
            st.image(charts.colour_tiles(view["maps"], cols=2, tile=168),
                     caption=f"votes for {a} · votes for {b} (runner-up)")
        elif out["kind"] == "mlp":
            st.markdown(f"**Hidden units.** {view['active']} of {view['total']} hidden units fired for this "
                        f"digit. The {len(view['units'])} strongest, each shown by its input weights (what it "
                        "looks for; red = excites it, blue = inhibits it):")
            st.image(charts.colour_tiles(view["weights"], cols=len(view["units"])),
                     caption=" · ".join(f"unit {u}: {a:.2f}" for u, a in zip(view["units"], view["activations"])))
        else:
            st.markdown("**Feature maps.** What each convolution block computes from this digit, from the 28×28 "
                        "input down to the class scores (brighter = stronger):")
            for block in view:
                shown = len(block["channels"])
                label = "every channel" if shown == block["total_channels"] else \
                    f"the {shown} strongest of {block['total_channels']} channels"
                side = block["maps"].shape[-1]
                st.image(charts.colour_tiles(block["maps"], cols=8, diverging=False, tile=56),
                         caption=f"Block {block['block']}: {side}×{side}, {label} "
                                 f"({', '.join(f'ch {c}' for c in block['channels'])})")
        st.markdown(f"**Attribution** (integrated gradients): which pixels raised the score of {best} (red) or "
                    "lowered it (blue), summing to the score's rise from a black image.")
        st.image([digit.repeat(6, axis=0).repeat(6, axis=1), charts.colour_tiles(out["attribution"][None], cols=1,
                                                                                  tile=168)],
                 caption=["the input", f"what made it a {best}"])
