"""Teach it your handwriting: draw labelled digits, see how the model reads them, fine-tune on them.

The page asks for each digit in turn (three rounds); the examples are kept
with the visitor's workspace (playground.workspace: a reload or a restart
loses none), download as a small ``.npz`` (``mnist_core.handwriting`` reads
it) and load back from one. Fine-tuning is a training like any other: it runs in the job
backend and becomes a new run; its result compares the model before and after
on held-out drawings and on the MNIST test set.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import i18n, resources, session, training
from dashboard.classifier import classifier, config_of_classifier, test_accuracy_of
from dashboard.draw import CANVAS_SIDE
from dashboard.i18n import _, ngettext
from mnist_core import predict, to_mnist
from mnist_core.handwriting import (
    accuracy_on, fine_tune_config, fine_tune_start, held_out_split, to_bytes,
)
from playground.runs import Run, fine_tune_of
from playground.store import SHIPPED_MODEL
from playground.workspace import Notice

ROUNDS = 3                 # examples asked of each digit
MIN_PER_DIGIT = 2          # before fine-tuning: one to train on, one held out


def examples() -> tuple[np.ndarray, np.ndarray]:
    drawn = session.visitor().examples
    images = np.stack([image for _, image, _ in drawn]) if drawn else np.zeros((0, 28, 28), np.uint8)
    return images, np.array([label for _, _, label in drawn], dtype=np.int64)


def next_digit() -> int:
    """The digit to ask for: the one with the fewest examples so far, lowest first."""
    counts = np.bincount(examples()[1], minlength=10)
    return int(np.argmin(counts))


def canvas_digit(key: str) -> np.ndarray | None:
    """The canvas's current drawing as MNIST's 28x28, read from its widget state (so a click that
    arrives before the stroke's own rerun still sees the stroke)."""
    from streamlit_drawable_canvas import CanvasResult
    value = st.session_state.get(key)
    try:
        url = value["drawing"]["data"]
    except (KeyError, TypeError):
        return None
    if not url:
        return None
    result = CanvasResult(json_data=None, image_data_url=url, return_image_data=True, background_fit=None)
    return to_mnist(result.image_data)


def add(digit: int) -> None:
    ss = st.session_state
    drawn = canvas_digit(f"hw-canvas-{ss.hw_canvas}")
    if drawn is None:
        ss.hw_notices = [Notice("warning", _("Nothing drawn yet: draw the digit in the square first."))]
        return
    ss.hw_notices = session.add_examples([drawn], [digit])
    ss.hw_canvas += 1          # a fresh canvas for the next one


def undo() -> None:
    st.session_state.hw_notices = session.undo_example()


def load_file() -> None:
    """Add the digits of a .npz the visitor downloaded before."""
    upload = st.session_state.get("hw-file")
    if upload is not None:
        st.session_state.hw_notices = session.load_examples_file(upload, upload.name)


def fine_tune(model, base_config, source: str, tuned_from: int) -> None:
    """Submit a fine-tuning of ``model`` (run ``tuned_from``'s, or the shipped one's: SHIPPED_MODEL) on the examples
    not held out; remember what to compare afterwards."""
    images, labels = examples()
    train_idx, held_idx = held_out_split(labels)
    before = {"source": source, "held_images": images[held_idx], "held_labels": labels[held_idx],
              "held_before": accuracy_on(model, images[held_idx], labels[held_idx]),
              "test_before": test_accuracy_of(model), "trained_on": len(train_idx)}
    tunes, who = st.session_state.hw_tunes, training.owner()  # read before the action (dashboard.session says why)

    def submit(config):  # a backend that cannot start, or examples the fine-tune cannot take: a refusal
        start = fine_tune_start(model, images[train_idx], labels[train_idx])
        return resources.backend().submit(config, start=start, owner=who)
    runs, notices = session.train(submit, [fine_tune_config(base_config)], tuned_from)
    if not runs:  # refused: said beside the drawings
        st.session_state.hw_notices = notices
        return
    tunes.append({"run": runs[0].number, **before})  # kept before the next Streamlit call, where a click stops us
    st.session_state.hw_rerun = True   # the whole page follows the new run (Training, live)
    session.notify(notices)


@st.fragment
def handwriting_section() -> None:
    """A fragment: each stroke and click here reruns this section alone."""
    ss = st.session_state
    ss.setdefault("hw_notices", [])
    ss.setdefault("hw_canvas", 0)
    ss.setdefault("hw_tunes", [])
    if ss.pop("hw_rerun", False):
        st.rerun()  # a fine-tuning was just submitted from here: redraw the page, so its live section follows it
    st.subheader(_("Teach it your handwriting"))
    st.caption(_("Draw each digit when asked ({rounds} of each, more if you like). See how the current model "
                 "reads your hand, then fine-tune it on your examples: one of each digit is held out, so the "
                 "before → after is measured on drawings it never trained on.").format(rounds=ROUNDS))
    with st.container(key="handwriting"):
        body()


def body() -> None:
    ss = st.session_state
    model, source, _key = classifier()
    base_config = config_of_classifier()
    shown = session.latest_finished()  # the run whose model classifies (classifier()), None: the shipped one
    images, labels = examples()
    digit = next_digit()
    left, right = st.columns([1, 1])
    with left:
        try:
            from streamlit_drawable_canvas import st_canvas
        except Exception as exc:  # the component imports only inside a running app
            st.warning(_("The drawing canvas is unavailable here ({reason}).").format(reason=exc.__class__.__name__))
            return
        done = len(labels)
        st.markdown(ngettext("**Draw a {digit}** ({count} example so far, {asked} asked)",
                             "**Draw a {digit}** ({count} examples so far, {asked} asked)", done).format(
            digit=digit, count=done, asked=ROUNDS * 10))
        st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", width=CANVAS_SIDE,
                  height=CANVAS_SIDE, drawing_mode="freedraw", return_image_data=True, key=f"hw-canvas-{ss.hw_canvas}")
        a, b = st.columns(2)
        a.button(_("Add as {digit}").format(digit=digit), key="hw-add", type="primary", on_click=add, args=(digit,))
        b.button(_("Undo the last"), key="hw-undo", on_click=undo, disabled=not done)
        for notice in ss.hw_notices:
            getattr(st, notice.level)(notice.message)
        ss.hw_notices = []
    with right:
        if done:
            preds = predict(model, images).argmax(1)
            st.metric(_("Read right by the current model"), _("{right} of {total}").format(
                right=int((preds == labels).sum()), total=done), help=_("The current model: {model}.").format(
                model=source))
            st.image([im.repeat(2, 0).repeat(2, 1) for im in images[-30:]], width=56,
                     caption=[f"{t}{'' if p == t else ' → ' + str(p)}" for t, p in zip(labels[-30:], preds[-30:])])
            st.download_button(_("Download my digits (.npz)"), to_bytes(images, labels), file_name="my-digits.npz",
                               mime="application/octet-stream", key="hw-download")
        st.file_uploader(_("Load digits downloaded before (.npz)"), type=["npz"], key="hw-file",
                         on_change=load_file, help=_("The file Download my digits gave you: its digits join these."))
        counts = np.bincount(labels, minlength=10)
        ready = bool(done) and counts.min() >= MIN_PER_DIGIT
        st.button(_("Fine-tune on my handwriting"), key="hw-tune", disabled=not ready or base_config is None,
                  on_click=fine_tune,
                  args=(model, base_config, source, shown.number if shown is not None else SHIPPED_MODEL),
                  help=None if ready else _("Needs at least {count} examples of every digit.").format(
                      count=MIN_PER_DIGIT))
    for tune in ss.hw_tunes:
        outcome(tune)


def explanation(run: Run, held: int) -> str:
    """Why the two counts of the section move differently, and how much one held-out drawing weighs."""
    return _("Run #{number} is a {what}. *Read right by the current model* counts all your drawings, the ones it "
             "was fine-tuned on too, so it rises easily. The honest measure is your {held} held-out drawings (one "
             "of each digit, never trained on): with {held} of them, one drawing is {points} percentage points, so "
             "a change of a drawing or two can be chance.").format(
        number=run.number, what=fine_tune_of(run, i18n.words()), held=held, points=f"{100 / held:.0f}")


def outcome(tune: dict) -> None:
    run = next((r for r in session.runs() if r.number == tune["run"]), None)
    if run is None:
        return
    if not run.done:
        st.info(_("Run #{number}, a {what}, trains on {count} of your drawings… (see Training, live)").format(
            number=run.number, what=fine_tune_of(run, i18n.words()), count=tune["trained_on"]))
        return
    if run.model is None or run.evaluation is None:
        st.warning(_("Run #{number}, a {what}, ended {status} without a model to compare.").format(
            number=run.number, what=fine_tune_of(run, i18n.words()), status=i18n.status_word(run.status)))
        return
    held_after = accuracy_on(run.model, tune["held_images"], tune["held_labels"])
    n = len(tune["held_labels"])
    before, after = tune["held_before"], held_after
    c1, c2 = st.columns(2)
    c1.metric(_("Your {count} held-out drawings (run #{number})").format(count=n, number=run.number),
              _("{right} of {total}").format(right=round(after * n), total=n),
              # TRANSLATORS: keep {change} first: Streamlit reads the arrow's direction from the delta's first character
              _("{change} vs before ({right} of {total})").format(change=f"{round((after - before) * n):+d}",
                                                                  right=round(before * n), total=n))
    test_before, test_after = tune["test_before"], run.evaluation.accuracy
    c2.metric(_("MNIST test set"), i18n.percent(test_after),
              # TRANSLATORS: keep {points} first, as above
              _("{points} percentage points vs before ({before})").format(
                  points=f"{100 * (test_after - test_before):+.2f}", before=i18n.percent(test_before))
              if test_before is not None else None)
    st.caption(explanation(run, n))
