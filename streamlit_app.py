"""MNIST Playground: train a digit classifier from the sidebar, watch it learn, draw a digit.

The page reads top to bottom like the user's journey: choose settings, train,
watch the cost fall, compare runs, inspect mistakes, see what the model
learned, draw a digit, read a photo of your own handwriting. Every computation is a mnist_core call; this file holds
layout, widgets and session state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace

import numpy as np
import streamlit as st

from dashboard import charts
from dashboard.runs import Run, advice, differing, label
from dashboard.settings import (
    BATCH_CHOICES, EPOCHS_RANGE, KEYS, LR_CHOICES, SMOOTHING_CHOICES, SWEEP_LRS, WIDTH_CHOICES, base_settings,
    format_lr, from_query, preset_settings, to_query, tutorial_settings,
)
from mnist_core import (
    PRESETS, DataError, TrainConfig, evaluate, list_models, load_checkpoint, load_mnist, predict, resolve_device,
    to_mnist, train,
)
from mnist_core.checkpoint import pretrained_path
from mnist_core.models import DESCRIPTIONS
from mnist_core.preprocess import ImageError, open_image, split_digits
from mnist_core.train import OPTIMIZERS, SCHEDULES, available_devices

log = logging.getLogger("mnist_playground")

MAX_RUNS = 20          # runs kept per session (each holds its model)
MISTAKES_SHOWN = 40
CANVAS_SIDE = 280

st.set_page_config(page_title="MNIST Playground", page_icon="✏️", layout="wide")


# ---------------------------------------------------------------- shared, once per server process

@st.cache_resource(show_spinner="Loading MNIST (once per server)…")
def get_data(device: str):
    """The dataset as tensors on ``device``, shared read-only by every session."""
    return load_mnist(device=device)


@st.cache_resource
def training_slots() -> threading.BoundedSemaphore:
    """At most this many trainings at once: each already uses every core it is given."""
    slots = int(os.environ.get("MNIST_TRAINING_SLOTS", 0)) or max(1, (os.cpu_count() or 2) // 2)
    return threading.BoundedSemaphore(slots)


@st.cache_resource
def pretrained_model():
    model, info = load_checkpoint(pretrained_path(), device="cpu")
    return model, info["metrics"].get("test_accuracy")


# ---------------------------------------------------------------- session state and the URL

def init_state() -> None:
    ss = st.session_state
    if "runs" not in ss:
        ss.runs = []
        ss.next_run = 1
        ss.canvas_key = 0
        ss.notice = None
        settings = from_query(st.query_params.to_dict())
        for key in KEYS:
            ss[key] = settings[key]


def apply(settings: dict) -> None:
    for key, value in settings.items():
        st.session_state[key] = value


def reset_to_tutorial() -> None:
    apply(tutorial_settings())


def on_model_change() -> None:
    """A new model comes with its preset: good settings for it, the visitor's seed and device kept."""
    apply(base_settings(st.session_state.model, keep=st.session_state))


def on_preset_change() -> None:
    name = st.session_state.preset
    if name:
        apply(preset_settings(name, keep=st.session_state))
    st.session_state.preset = None


def current_settings() -> dict:
    return {k: st.session_state[k] for k in KEYS}


def sync_url(settings: dict) -> None:
    wanted = to_query(settings)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


# ---------------------------------------------------------------- sidebar: the experiment

def sidebar() -> tuple[TrainConfig, bool, bool]:
    with st.sidebar:
        st.header("Experiment")
        st.selectbox("Preset", list(PRESETS), index=None, key="preset", on_change=on_preset_change,
                     placeholder="Choose a preset…",
                     help="tutorial: the tutorial's softmax regression · mlp: ~98% in seconds · "
                          "cnn-fast: 99%+ in about 15 s on 2 CPU cores · cnn-best: 99.5%+ in minutes")
        st.selectbox("Model", list_models(), key="model", on_change=on_model_change,
                     help="\n".join(f"- **{k}**: {v}" for k, v in DESCRIPTIONS.items()))
        st.select_slider("Learning rate", LR_CHOICES, key="lr", format_func=format_lr,
                         help="Step size of each update (log scale). The tutorial uses 0.1.")
        st.select_slider("Batch size", BATCH_CHOICES, key="batch_size", help="Images per update. The tutorial uses 1000.")
        st.slider("Epochs", *EPOCHS_RANGE, key="epochs", help="Passes over the 60,000 training images.")
        st.selectbox("Optimizer", OPTIMIZERS, key="optimizer",
                     format_func={"sgd": "SGD (the tutorial's)", "momentum": "SGD + momentum 0.9", "adam": "Adam"}.get)
        st.number_input("Seed", min_value=0, max_value=2 ** 31 - 1, step=1, key="seed",
                        help="Same seed, same settings: same numbers.")
        st.selectbox("Device", available_devices(), key="device",
                     help="auto takes a CUDA GPU when there is one, else the CPU.")
        with st.expander("Advanced"):
            st.selectbox("Learning-rate schedule", SCHEDULES, key="schedule",
                         help="onecycle warms the rate up, then anneals it to almost 0.")
            st.select_slider("Label smoothing", SMOOTHING_CHOICES, key="label_smoothing")
            st.checkbox("Augment (random rotation, scale, shift)", key="augment")
            widths = WIDTH_CHOICES.get(st.session_state.model, [0])
            if st.session_state.width not in widths:
                st.session_state.width = 0
            st.selectbox("Width", widths, key="width", disabled=len(widths) == 1,
                         format_func=lambda w: "the model's default" if w == 0 else str(w),
                         help="Hidden units (mlp) or channels of the first layer (cnn).")
        train_clicked = st.button("Train", key="train", type="primary", width="stretch")
        sweep_clicked = st.button(f"Learning-rate sweep ({', '.join(format_lr(x) for x in SWEEP_LRS)})",
                                  key="sweep", width="stretch",
                                  help="Train these settings once per learning rate and overlay the curves.")
        st.button("Reset to the tutorial", key="reset", on_click=reset_to_tutorial, width="stretch")
        st.caption("The settings are in the page's address: share it to share the experiment.")
    settings = current_settings()
    sync_url(settings)
    return TrainConfig(**settings), train_clicked, sweep_clicked


# ---------------------------------------------------------------- training

def train_runs(configs: list[TrainConfig], live) -> None:
    """Train each config in turn, drawing the live chart; every run is kept, even a stopped one."""
    ss = st.session_state
    try:
        device = str(resolve_device(configs[0].device))
        data = get_data(device)
    except (DataError, ValueError) as exc:
        ss.notice = ("error", str(exc))
        return
    chart, status, progress, stop_area = live
    slots = training_slots()
    waited = 0.0
    while not slots.acquire(timeout=0.5):
        waited += 0.5  # each message is also where a click (or leaving) ends the wait
        status.info(f"Other visitors are training: waiting for a free slot… ({waited:.0f} s)")
    try:
        for i, config in enumerate(configs):
            stop_area.button("Stop training", key=f"stop-{ss.next_run}")
            run = Run(number=ss.next_run, config=config, device=device)
            ss.next_run += 1
            ss.runs.append(run)
            del ss.runs[:-MAX_RUNS]
            status.info(f"Training run #{run.number} ({i + 1} of {len(configs)}): {config.model}, "
                        f"lr {format_lr(config.lr)}, {config.optimizer}, batch {config.batch_size}, on {device}…")
            train_one(run, data, chart, progress)
        status.empty()
    finally:
        slots.release()
        progress.empty()
        stop_area.empty()


def train_one(run: Run, data, chart, progress) -> None:
    config = run.config
    total_batches = config.epochs * (60000 // config.batch_size)
    batches = 0
    last_draw = 0.0

    def on_epoch(report) -> None:
        run.costs.append(report.cost)
        run.accuracies.append(report.test_accuracy)
        run.seconds = report.seconds
        chart.plotly_chart(charts.live_figure(run.costs, run.accuracies, config.epochs),
                           width="stretch", key=f"live-{run.number}-{report.epoch}")

    def should_stop() -> bool:
        # Called between batches: also the moment to move the progress bar. Any click on the
        # page (the Stop button among them) ends this script run at the next Streamlit call.
        nonlocal batches, last_draw
        batches += 1
        now = time.perf_counter()
        if now - last_draw > 0.2:
            last_draw = now
            progress.progress(min(batches / total_batches, 1.0),
                              text=f"epoch {len(run.costs) + 1} of {config.epochs}")
        return False

    try:
        result = train(config, data, on_epoch=on_epoch, should_stop=should_stop)
        run.status, run.model, run.seconds = result.status, result.model, result.train_seconds
        if result.status != "diverged":
            run.evaluation = evaluate(result.model, data)
    except ValueError as exc:
        run.status = "failed"
        st.session_state.notice = ("error", str(exc))
    except Exception as exc:
        run.status = "failed"
        log.exception("training failed")
        st.session_state.notice = ("error", f"Training failed: {exc.__class__.__name__}: {exc}")
    finally:
        # Any click on the page (Stop among them) ends this script run from inside the loop;
        # the epochs done so far are kept as a stopped run.
        if run.status == "running":
            run.status = "stopped"
        if not run.costs:
            st.session_state.runs.remove(run)
        run.finished.set()


# ---------------------------------------------------------------- main area

def latest_finished() -> Run | None:
    done = [r for r in st.session_state.runs if r.model is not None and r.evaluation is not None]
    return done[-1] if done else None


def training_section(train_configs: list[TrainConfig]) -> None:
    st.subheader("Training, live")
    # A click during training starts this script run while the interrupted one is still winding
    # down (Streamlit's fast reruns): let it record how far it got first.
    for earlier in list(st.session_state.runs):
        if earlier.status == "running":
            earlier.finished.wait(timeout=10)
    chart, status, progress, stop_area = st.empty(), st.empty(), st.empty(), st.empty()
    metrics = st.container()
    if train_configs:
        train_runs(train_configs, (chart, status, progress, stop_area))
    notice = st.session_state.notice
    if notice:
        getattr(st, notice[0])(notice[1])
        st.session_state.notice = None
    runs = st.session_state.runs
    if not runs:
        chart.info("Choose settings in the sidebar (» at the top left on a phone) and press **Train**. "
                   "With the tutorial's settings (softmax regression, SGD, learning rate 0.1, 10 epochs) "
                   "it takes about a second.")
        return
    run = runs[-1]
    if run.costs:
        chart.plotly_chart(charts.live_figure(run.costs, run.accuracies, run.config.epochs),
                           width="stretch", key=f"final-{run.number}")
    if run.status == "stopped":
        st.warning(f"Run #{run.number} was stopped after {len(run.costs)} epoch(s); its curve is kept.")
    tip = advice(run)
    if tip:
        getattr(st, tip[0])(tip[1])
    previous = [r for r in runs[:-1] if r.accuracy is not None]
    with metrics:
        c1, c2, c3 = st.columns(3)
        acc = run.accuracy
        delta = None
        if acc is not None and previous:
            delta = f"{100 * (acc - previous[-1].accuracy):+.2f} pts vs run #{previous[-1].number}"
        c1.metric("Test accuracy", f"{100 * acc:.2f}%" if acc is not None else "—", delta)
        c2.metric("Training time", f"{run.seconds:.2f} s")
        c3.metric("Device", run.device)


def compare_section() -> None:
    runs = st.session_state.runs
    if not runs:
        return
    st.subheader("Compare runs")
    keys = differing(runs)
    curves = [(label(r, keys), r.costs) for r in runs if r.costs and np.isfinite(r.costs).all()]
    spread = [c for _, cs in curves for c in cs]
    log_y = bool(spread) and max(spread) / max(min(spread), 1e-9) > 50
    left, right = st.columns([3, 2])
    with left.container(key="compare"):
        st.plotly_chart(charts.compare_figure(curves, log_y=log_y), width="stretch", key="compare-chart")
    table = [{
        "run": r.number, **{k: (format_lr(v) if k == "lr" else v) for k, v in r.settings().items()},
        "test accuracy (%)": round(100 * r.accuracy, 2) if r.accuracy is not None else None,
        "seconds": round(r.seconds, 2), "device": r.device, "status": r.status,
    } for r in runs]
    right.dataframe(table, hide_index=True, width="stretch")
    with right.form("remove-runs", border=False):
        chosen = st.multiselect("Remove runs", [r.number for r in runs], format_func=lambda n: f"#{n}")
        if st.form_submit_button("Remove") and chosen:
            st.session_state.runs = [r for r in runs if r.number not in chosen]
            st.rerun()


def mistakes_section(run: Run, data) -> None:
    st.subheader(f"Mistakes of run #{run.number}")
    ev = run.evaluation
    st.caption(f"{len(ev.mistake_indices)} of {len(data.test_labels):,} test images misclassified; "
               "the most confident mistakes first.")
    digits = ["any"] + list(range(10))
    c1, c2 = st.columns(2)
    true_digit = c1.selectbox("True digit", digits, key="filter_true")
    pred_digit = c2.selectbox("Predicted digit", digits, key="filter_pred")
    keep = np.ones(len(ev.mistake_indices), bool)
    if true_digit != "any":
        keep &= ev.mistake_true == true_digit
    if pred_digit != "any":
        keep &= ev.mistake_pred == pred_digit
    shown = np.nonzero(keep)[0][:MISTAKES_SHOWN]
    if len(shown) == 0:
        st.info("No mistakes of that kind.")
    else:
        images = data.test_images[ev.mistake_indices[shown]].cpu().numpy()
        big = images.repeat(3, axis=1).repeat(3, axis=2)  # 84 px, crisp
        captions = [f"{t} → {p} ({100 * c:.0f}%)" for t, p, c in
                    zip(ev.mistake_true[shown], ev.mistake_pred[shown], ev.mistake_confidence[shown])]
        st.image(list(big), caption=captions, width=84)
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.confusion_figure(ev.confusion, data.classes), width="stretch", key="confusion")
    c2.plotly_chart(charts.per_class_figure(ev.per_class_accuracy, data.classes), width="stretch", key="per_class")


def weights_section(run: Run, classes) -> None:
    if run.config.model != "linear":
        return
    st.subheader("What the model learned")
    st.caption("The linear model scores each digit by a weighted sum of the 784 pixels. Its ten weight "
               "templates: red pixels count for the digit, blue ones against it.")
    weight = run.model[-1].weight.detach().cpu().numpy()  # (10, 784)
    st.plotly_chart(charts.weights_figure(weight, classes), width="stretch", key="weights")


def clear_canvas() -> None:
    st.session_state.canvas_key += 1  # a new key mounts an empty canvas


@st.fragment
def draw_section() -> None:
    """Reruns alone on every stroke, so drawing never redraws the charts above."""
    st.subheader("Draw a digit")
    with st.container(key="draw"):
        draw_and_classify()


def draw_and_classify() -> None:
    model, source = classifier()
    st.caption(f"Classified by {source}.")
    left, right = st.columns([1, 1])
    with left:
        try:
            from streamlit_drawable_canvas import st_canvas
        except Exception as exc:  # the component imports only inside a running app
            st.warning(f"The drawing canvas is unavailable here ({exc.__class__.__name__}).")
            return
        result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                           width=CANVAS_SIDE, height=CANVAS_SIDE, drawing_mode="freedraw",
                           return_image_data=True, key=f"canvas-{st.session_state.canvas_key}")
        st.button("Clear", key="clear", on_click=clear_canvas)
    image = result.image_data if result is not None else None
    digit = to_mnist(image) if image is not None else None
    with right:
        if digit is None:
            st.info("Draw a digit in the black square, large and centred, as on paper.")
            return
        probs = predict(model, digit)
        best = int(np.argmax(probs))
        with st.container(key="prediction"):
            st.markdown(f"<span style='font-size:5rem;font-weight:700;line-height:1'>{best}</span>",
                        unsafe_allow_html=True)
        st.caption(f"predicted digit, {100 * probs[best]:.0f}% sure")
        st.plotly_chart(charts.probabilities_figure(probs),
                        width="stretch", key="probabilities")
        st.image(digit.repeat(5, axis=0).repeat(5, axis=1), caption="What the model sees: 28×28, like MNIST",
                 width=140)


def classifier():
    """The session's latest trained model, else the shipped one; and words saying which."""
    run = latest_finished()
    if run is not None:
        return run.model, f"run #{run.number} ({100 * run.accuracy:.2f}% on the test set)"
    model, acc = pretrained_model()
    return model, "the shipped pretrained model" + (f" ({100 * acc:.2f}% on the test set)" if acc else "")


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
    model, source = classifier()
    st.caption(f"Read by {source}.")
    for upload in files:
        image, digits, problem = read_photo(upload.getvalue())
        if problem:
            st.error(f"{upload.name}: {problem}.")
            continue
        left, right = st.columns([1, 2])
        left.image(image, caption=upload.name, width="stretch")
        with right:
            if not digits:
                st.warning(f"{upload.name}: no handwriting found. Dark ink on light paper, filling "
                           "much of the picture, reads best.")
                continue
            probs = predict(model, np.stack(digits))  # (N, 10)
            number = "".join(str(int(p.argmax())) for p in probs)
            with st.container(key=f"number-{upload.file_id}"):
                st.markdown(f"<span style='font-size:3rem;font-weight:700'>{number}</span>", unsafe_allow_html=True)
            st.image([d.repeat(3, axis=0).repeat(3, axis=1) for d in digits], width=84,
                     caption=[f"{int(p.argmax())} ({100 * p.max():.0f}%)" for p in probs])
            if len(digits) == 1:
                st.plotly_chart(charts.probabilities_figure(probs[0]),
                                width="stretch", key=f"upload-probs-{upload.file_id}")


def main() -> None:
    init_state()
    config, train_clicked, sweep_clicked = sidebar()
    st.title("MNIST Playground")
    st.caption("Handwritten-digit recognition with PyTorch: from the tutorial's softmax regression "
               "(~90%) upwards. Change a setting, press Train, and compare.")
    configs = []
    if train_clicked:
        configs = [config]
    elif sweep_clicked:
        configs = [replace(config, lr=lr) for lr in SWEEP_LRS]
    training_section(configs)
    compare_section()
    run = latest_finished()
    if run is not None:
        try:
            data = get_data(run.device)
        except DataError as exc:
            st.error(str(exc))
        else:
            mistakes_section(run, data)
            weights_section(run, data.classes)
    draw_section()
    upload_section()


main()
