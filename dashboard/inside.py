"""Inside the model, for the digit just drawn or a test image picked on the map or from the mistakes.

Every computation is a ``mnist_core.explain`` call; this module only draws.
It runs on a page of its own (dashboard/pages/inside.py), for the digit drawn on
the card's page: a stroke there never computes these views nor sends the map.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import charts, i18n, resources, session
from dashboard.i18n import _
from mnist_core import DataError, explain

MAP_DIGITS = 2000
SOURCES = ("your drawing", "a test image")  # the radio's values; what it shows is source_name's


def source_name(source: str) -> str:
    return {SOURCES[0]: _("your drawing"), SOURCES[1]: _("a test image")}[source]


@st.cache_resource(max_entries=16, show_spinner=False)
def test_map(model_key: str, language: str, _model):
    """The test set's map for one model and its figure in ``language``, made once per model and language
    (``model_key`` names the model)."""
    tm = explain.test_map(_model, resources.mnist(), count=MAP_DIGITS)
    what = _("class scores") if explain.kind(_model) == "linear" else _("last hidden features")
    figure = charts.test_map_figure(tm.xy, tm.labels, tm.predictions, tm.indices,
                                    title=_("The model's map of {count} test digits ({what}, PCA)").format(
                                        count=i18n.number(MAP_DIGITS), what=what))
    return tm, figure, what


def picked_on_map() -> None:
    """A click on a map point explains that test image."""
    points = st.session_state["test-map"].selection.points
    if points:
        st.session_state.inside_source = SOURCES[1]
        st.session_state.inside_index = int(points[0]["customdata"][0])


def inside_section(model, model_key: str, drawn: np.ndarray | None) -> None:
    st.subheader(_("Inside the model"))
    ss = st.session_state
    ss.setdefault("inside_source", SOURCES[0])
    ss.setdefault("inside_index", 0)
    left, right = st.columns([1, 2])
    # format functions are given their words now: a test harness may call them outside the visitor's script run
    source = left.radio(_("Look inside for"), SOURCES, key="inside_source", horizontal=True,
                        format_func={s: source_name(s) for s in SOURCES}.get)
    try:
        data = resources.mnist()
    except DataError as exc:  # the drawing's own views need no data; the test images and the map do
        st.warning(_("Test images are unavailable: {reason}").format(reason=i18n.message(exc)))
        if drawn is not None:
            views(model, drawn)
        return
    if source == SOURCES[1]:
        right.number_input(_("Test image #"), min_value=0, max_value=len(data.test_images) - 1, step=1,
                           key="inside_index", help=_("Or click a point on the map below, or pick a mistake."))
        mistakes = mistake_choices()
        if mistakes:
            right.selectbox(_("…or one of the latest run's most confident mistakes"), list(mistakes), index=None,
                            key="inside_mistake", format_func=mistakes.get, on_change=picked_mistake)
        digit = data.test_images[ss.inside_index].numpy()
        st.caption(_("Test image #{index}: a {digit}.").format(index=ss.inside_index,
                                                                digit=int(data.test_labels[ss.inside_index])))
    else:
        digit = drawn
        if digit is None:
            st.info(_("Draw a digit on the Train page to look inside the model for it, or choose a test image."))
    if digit is not None:
        views(model, digit)
    with st.spinner(_("Placing {count} test digits on the model's map…").format(count=i18n.number(MAP_DIGITS))):
        tm, figure, what = test_map(model_key, i18n.language(), model)
    point = tm.projection.transform(explain.embedding(model, digit[None])) if digit is not None else None
    st.plotly_chart(charts.with_star(figure, point), width="stretch", key="test-map", on_select=picked_on_map,
                    selection_mode="points")
    st.caption(_("Each dot is a test digit, placed by what the model computes of it (its {what}, projected on "
                 "their two main directions); crosses are its mistakes, the star is the digit looked at. Click a "
                 "dot to look inside for that test image.").format(what=what))


def mistake_choices() -> dict[int, str]:
    run = session.latest_finished()
    if run is None:
        return {}
    top = run.evaluation.mistakes(limit=40)
    return {int(i): _("#{index}: {true} read as {predicted} ({percent}%)").format(
                index=i, true=t, predicted=p, percent=f"{100 * c:.0f}") for i, t, p, c in
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
            st.markdown(_("**Evidence.** Each pixel's vote, weight × pixel: red pixels count for the digit, blue "
                          "ones against. The score of {first} is {first_score}, of {second} {second_score}.").format(
                first=a, first_score=f"{view['scores'][0]:.2f}", second=b, second_score=f"{view['scores'][1]:.2f}"))
            st.image(charts.colour_tiles(view["maps"], cols=2, tile=168),
                     caption=_("votes for {first} · votes for {second} (runner-up)").format(first=a, second=b))
        elif out["kind"] == "mlp":
            st.markdown(_("**Hidden units.** {active} of {total} hidden units fired for this digit. The {shown} "
                          "strongest, each shown by its input weights (what it looks for; red = excites it, blue = "
                          "inhibits it):").format(active=view["active"], total=view["total"],
                                                  shown=len(view["units"])))
            st.image(charts.colour_tiles(view["weights"], cols=len(view["units"])),
                     caption=" · ".join(_("unit {unit}: {activation}").format(unit=u, activation=f"{a:.2f}")
                                        for u, a in zip(view["units"], view["activations"])))
        else:
            st.markdown(_("**Feature maps.** What each convolution block computes from this digit, from the 28×28 "
                          "input down to the class scores (brighter = stronger):"))
            for block in view:
                shown = len(block["channels"])
                label = _("every channel") if shown == block["total_channels"] else \
                    _("the {shown} strongest of {total} channels").format(shown=shown, total=block["total_channels"])
                side = block["maps"].shape[-1]
                st.image(charts.colour_tiles(block["maps"], cols=8, diverging=False, tile=56),
                         caption=_("Block {block}: {side}×{side}, {which} ({channels})").format(
                             block=block["block"], side=side, which=label,
                             channels=", ".join(_("ch {channel}").format(channel=c) for c in block["channels"])))
        st.markdown(_("**Attribution** (integrated gradients): which pixels raised the score of {digit} (red) or "
                      "lowered it (blue), summing to the score's rise from a black image.").format(digit=best))
        st.image([digit.repeat(6, axis=0).repeat(6, axis=1), charts.colour_tiles(out["attribution"][None], cols=1,
                                                                                  tile=168)],
                 caption=[_("the input"), _("what made it a {digit}").format(digit=best)])
