"""Your own handwriting: photos or scans of digits, split into digits and read."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, i18n
from dashboard.classifier import classifier
from dashboard.i18n import _
from mnist_core.evaluate import read_digits
from mnist_core.preprocess import ImageError, open_image, split_digits
from playground.text import plain


@st.cache_data(max_entries=32, show_spinner=False)
def read_photo(data: bytes):
    """(a display-sized copy, the digits, None), or (None, [], the ImageError saying why not, to be said in each
    visitor's language): once per file, not per rerun."""
    try:
        image = open_image(data)
        digits = split_digits(image)
    except ImageError as exc:
        return None, [], exc
    image.thumbnail((640, 640))
    return image, digits, None


def upload_section() -> None:
    st.subheader(_("Your own handwriting"))
    st.caption(_("A photo or scan of digits on paper (PNG, JPEG or WebP): one digit, or a number such as "
                 "2024, which is split into digits left to right."))
    files = st.file_uploader(_("Photos of handwritten digits"), type=["png", "jpg", "jpeg", "webp"],
                             accept_multiple_files=True, key="photos")
    if not files:
        return
    model, source, _key = classifier()
    st.caption(_("Read by {model}.").format(model=source))
    for upload in files:
        name = plain(upload.name)  # a file name is text, not Markdown
        with st.spinner(_("Reading the photo…")):
            image, digits, problem = read_photo(upload.getvalue())
        if problem:
            st.error(_("{name}: {problem}.").format(name=name, problem=i18n.message(problem)))
            continue
        left, right = st.columns([1, 2])
        left.image(image, caption=name, width="stretch")  # captions are Markdown too
        with right:
            if not digits:
                st.warning(_("{name}: no handwriting found. Dark ink on light paper, filling much of the picture, "
                             "reads best.").format(name=name))
                continue
            number, probs = read_digits(model, digits)
            with st.container(key=f"number-{upload.file_id}"):
                st.markdown(f"<span style='font-size:3rem;font-weight:700'>{number}</span>", unsafe_allow_html=True)
            st.image([d.repeat(3, axis=0).repeat(3, axis=1) for d in digits], width=84,
                     caption=[f"{int(p.argmax())} ({100 * p.max():.0f}%)" for p in probs])
            if len(digits) == 1:
                st.plotly_chart(charts.probabilities_figure(probs[0]),
                                width="stretch", key=f"upload-probs-{upload.file_id}")
