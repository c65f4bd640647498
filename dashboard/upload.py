"""Your own handwriting: photos or scans of digits, split into digits and read."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.classifier import classifier
from mnist_core.evaluate import read_digits
from mnist_core.preprocess import ImageError, open_image, split_digits
from playground.text import plain


@st.cache_data(max_entries=32, show_spinner="Reading the photo…")
def read_photo(data: bytes):
    """(a display-sized copy, the digits, None), or (None, [], why not): once per file, not per rerun."""
    try:
        image = open_image(data)
        digits = split_digits(image)
    except ImageError as exc:
        return None, [], str(exc)
    image.thumbnail((640, 640))
    return image, digits, None


def upload_section() -> None:
    st.subheader("Your own handwriting")
    st.caption("A photo or scan of digits on paper (PNG, JPEG or WebP): one digit, or a number such as "
               "2024, which is split into digits left to right.")
    files = st.file_uploader("Photos of handwritten digits", type=["png", "jpg", "jpeg", "webp"],
                             accept_multiple_files=True, key="photos")
    if not files:
        return
    model, source, _ = classifier()
    st.caption(f"Read by {source}.")
    for upload in files:
        name = plain(upload.name)  # a file name is text, not Markdown
        image, digits, problem = read_photo(upload.getvalue())
        if problem:
            st.error(f"{name}: {problem}.")
            continue
        left, right = st.columns([1, 2])
        left.image(image, caption=name, width="stretch")  # captions are Markdown too
        with right:
            if not digits:
                st.warning(f"{name}: no handwriting found. Dark ink on light paper, filling "
                           "much of the picture, reads best.")
                continue
            number, probs = read_digits(model, digits)
            with st.container(key=f"number-{upload.file_id}"):
                st.markdown(f"<span style='font-size:3rem;font-weight:700'>{number}</span>", unsafe_allow_html=True)
            st.image([d.repeat(3, axis=0).repeat(3, axis=1) for d in digits], width=84,
                     caption=[f"{int(p.argmax())} ({100 * p.max():.0f}%)" for p in probs])
            if len(digits) == 1:
                st.plotly_chart(charts.probabilities_figure(probs[0]),
                                width="stretch", key=f"upload-probs-{upload.file_id}")
