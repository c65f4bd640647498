"""Draw a digit: a canvas, the prediction, the ten probabilities and the 28x28 image the model sees."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import charts, i18n
from dashboard.i18n import _
from dashboard.classifier import classifier
from mnist_core import predict, to_mnist

CANVAS_SIDE = 280


def scores_to_probabilities() -> str:
    return _("The model ends in ten scores, one per digit (the linear model's are weighted sums of the 784 "
             "pixels); softmax turns them into these probabilities, which add up to 100%: the higher a score, the "
             "larger its bar.")


def clear_canvas() -> None:
    st.session_state.canvas_key += 1  # a new key mounts an empty canvas


@st.fragment
def draw_section() -> None:
    """Reruns alone on every stroke, so drawing never redraws the charts above; the drawn digit is kept for the
    page Inside the model (dashboard/pages/inside.py), which looks inside for it."""
    st.subheader(_("Draw a digit"))
    model, source, _key = classifier()
    with st.container(key="draw"):
        st.session_state.drawn = draw_and_classify(model, source)


def draw_and_classify(model, source: str) -> np.ndarray | None:
    """The canvas and its prediction; returns the drawn digit as MNIST's 28x28, or None."""
    st.caption(_("Classified by {model}.").format(model=source))
    left, right = st.columns([1, 1])
    with left:
        try:
            from streamlit_drawable_canvas import st_canvas
        except Exception as exc:  # the component imports only inside a running app
            st.warning(_("The drawing canvas is unavailable here ({reason}).").format(reason=exc.__class__.__name__))
            return None
        result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                           width=CANVAS_SIDE, height=CANVAS_SIDE, drawing_mode="freedraw",
                           return_image_data=True, key=f"canvas-{st.session_state.canvas_key}")
        st.button(_("Clear"), key="clear", on_click=clear_canvas)
    image = result.image_data if result is not None else None
    digit = to_mnist(image) if image is not None else None
    with right:
        if digit is None:
            st.info(_("Draw a digit in the black square, large and centred, as on paper."))
            return None
        probs = predict(model, digit)
        best = int(np.argmax(probs))
        with st.container(key="prediction"):
            st.markdown(f"<span style='font-size:5rem;font-weight:700;line-height:1'>{best}</span>",
                        unsafe_allow_html=True)
        st.caption(_("predicted digit, {percent} sure").format(percent=f"{100 * probs[best]:.0f}%"))
        st.plotly_chart(probabilities_chart(probs), width="stretch", key="probabilities")
        st.caption(scores_to_probabilities())
        st.image(digit.repeat(5, axis=0).repeat(5, axis=1), caption=_("What the model sees: 28×28, like MNIST"),
                 width=140)
    return digit


def probabilities_chart(probs: np.ndarray):
    """This visitor's probability bars, the figure of their stroke before updated (charts.show_probabilities);
    one per session, since sessions draw at once, and built again for another language."""
    ss = st.session_state
    held = ss.get("probabilities_figure")
    if held is None or held[0] != i18n.language():
        ss.probabilities_figure = (i18n.language(), charts.probabilities_figure(probs))
        return ss.probabilities_figure[1]
    return charts.show_probabilities(held[1], probs)
