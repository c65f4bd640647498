"""The sidebar: the experiment's settings (kept in the page's address), Train, the sweep, reset."""

from __future__ import annotations

import streamlit as st

from dashboard import i18n, session
from dashboard.i18n import _, ngettext
from dashboard.settings import (
    BATCH_CHOICES, EPOCHS_RANGE, KEYS, LR_CHOICES, SMOOTHING_CHOICES, base_settings, format_lr,
    preset_settings, to_query, tutorial_settings, width_choices,
)
from mnist_core import PRESETS, TrainConfig, list_models
from mnist_core.budget import WorkLimits, estimate_work
from mnist_core.models import model_spec
from playground.runs import SWEEP_LRS
from mnist_core.data import TRAIN_IMAGES
from mnist_core.train import OPTIMIZERS, SCHEDULES, available_devices, preset_of

SIDEBAR_ORDER = ("lr", "batch_size", "epochs", "optimizer", "seed", "device", "schedule", "label_smoothing",
                 "augment", "width")  # the note names the changes in the order the sidebar shows them
# Below this width Streamlit draws the sidebar over the page instead of beside it (its mobile breakpoint).
NARROW_PX = 768
# Streamlit has no call that collapses the sidebar (set_page_config's initial_sidebar_state is only the first
# state: a rerun keeps the visitor's own), so after Train a phone clicks the sidebar's own close button.
CLOSE_SIDEBAR_ON_A_PHONE = f"""<script>
if (window.matchMedia("(max-width: {NARROW_PX - 1}px)").matches) {{
  const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
  if (close) close.click();
}}
</script>"""


def apply(settings: dict) -> None:
    for key, value in settings.items():
        st.session_state[key] = value


def reset_to_tutorial() -> None:
    apply(tutorial_settings())


def apply_and_say(settings: dict, heading: str, fair_model: str | None = None) -> None:
    """Apply settings and keep a note of what they changed, shown while they stand (``fair_model``: offer that
    model with the tutorial's settings)."""
    ss = st.session_state
    changes = [_("{setting} {before} → {after}").format(setting=i18n.setting_name(k), before=shown(k, ss[k]),
                                                        after=shown(k, settings[k]))
               for k in SIDEBAR_ORDER if k in settings and ss[k] != settings[k]]
    apply(settings)
    ss.settings_note = {"text": _("{heading}: {changes}.").format(heading=heading, changes=", ".join(changes))
                        if changes else None, "settings": settings, "fair_model": fair_model}


def shown(key: str, value) -> str:
    if key == "lr":
        return format_lr(value)
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if key == "width" and value == 0:
        return _("the model's default")
    return f"{value:g}" if isinstance(value, float) else str(value)


def on_model_change() -> None:
    """A new model comes with its preset: good settings for it, the visitor's seed and device kept. What the
    preset changed is said, since the preset box above shows no preset."""
    model = st.session_state.model
    preset = preset_of(model)
    apply_and_say(base_settings(model, keep=st.session_state),
                  _("The {model} comes with its preset {preset}").format(model=model, preset=preset),
                  fair_model=model if preset != "tutorial" else None)


def with_tutorials_settings(model: str) -> None:
    """The fair comparison: this model, every other setting the tutorial's (seed and device kept)."""
    ss = st.session_state
    apply_and_say({**tutorial_settings(), "model": model, "seed": ss.seed, "device": ss.device},
                  _("The {model} with the tutorial's settings").format(model=model))


def on_preset_change() -> None:
    name = st.session_state.preset
    if name:
        apply_and_say(preset_settings(name, keep=st.session_state), _("The preset {name}").format(name=name))
    st.session_state.preset = None


def settings_note() -> None:
    """What the last model or preset choice changed, while those settings still stand."""
    note = st.session_state.get("settings_note")
    if not note or any(st.session_state[k] != v for k, v in note["settings"].items()):
        return
    if note["text"]:
        st.info(note["text"])
    if note["fair_model"]:
        st.button(_("The {model} with the tutorial's settings").format(model=note["fair_model"]), key="fair",
                  width="stretch", on_click=with_tutorials_settings, args=(note["fair_model"],),
                  help=_("Only the model differs from the tutorial's run: a fair comparison."))


def sync_url(settings: dict) -> None:
    """The address: the settings (differences from the model's preset) and the visitor's workspace."""
    wanted, visitor = to_query(settings), session.visitor()
    if visitor.ws is not None:
        wanted["ws"] = visitor.ws
    wanted.update(i18n.in_address())
    wanted.update(visitor.unread)  # what the store could not read stays, for a reload once it is back
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def sidebar() -> tuple[TrainConfig, bool, bool]:
    """Draw the settings; return them with whether Train or the sweep was pressed."""
    with st.sidebar:
        st.header(_("Experiment"))
        st.selectbox(_("Preset"), list(PRESETS), index=None, key="preset", on_change=on_preset_change,
                     placeholder=_("Choose a preset…"),
                     help=_("tutorial: the tutorial's softmax regression · mlp: {mlp} in seconds · "
                            "cnn-fast: {fast} in about 15 s on 2 CPU cores · cnn-best: {best} in minutes").format(
                         mlp="~98%", fast="99%+", best="99.5%+"))
        st.selectbox(_("Model"), list_models(), key="model", on_change=on_model_change,
                     help="\n".join(f"- **{m}**: {i18n.core_words().gettext(model_spec(m).description)}"
                                    for m in list_models()))
        settings_note()
        st.select_slider(_("Learning rate"), LR_CHOICES, key="lr", format_func=format_lr,
                         help=_("Step size of each update (log scale). The tutorial uses 0.1. In the code: "
                                "`learning_rate`."))
        st.select_slider(_("Batch size"), BATCH_CHOICES, key="batch_size",
                         help=_("Images per update. The tutorial uses 1000. In the code: `batch_size`."))
        st.slider(_("Epochs"), *EPOCHS_RANGE, key="epochs",
                  help=_("Passes over the 60,000 training images. In the code: `training_epochs`."))
        updates, epochs = TRAIN_IMAGES // st.session_state.batch_size, st.session_state.epochs
        st.caption(ngettext("An epoch is {images} images: at batch size {batch}, {updates} updates of the weights; "
                            "{epochs} epoch, {total} updates.",
                            "An epoch is {images} images: at batch size {batch}, {updates} updates of the weights; "
                            "{epochs} epochs, {total} updates.", epochs).format(
            images=i18n.number(TRAIN_IMAGES), batch=i18n.number(st.session_state.batch_size),
            updates=i18n.number(updates), epochs=epochs, total=i18n.number(updates * epochs)))
        st.selectbox(_("Optimizer"), OPTIMIZERS, key="optimizer",
                     format_func={"sgd": _("SGD (the tutorial's)"), "momentum": _("SGD + momentum 0.9"),
                                  "adam": "Adam"}.get)
        st.number_input(_("Seed"), min_value=0, max_value=2 ** 31 - 1, step=1, key="seed",
                        help=_("Same seed, same settings: same numbers."))
        st.selectbox(_("Device"), available_devices(), key="device",
                     help=_("auto takes a CUDA GPU when there is one, else the CPU."))
        with st.expander(_("Advanced")):
            st.selectbox(_("Learning-rate schedule"), SCHEDULES, key="schedule",
                         help=_("onecycle warms the rate up, then anneals it to almost 0."))
            st.select_slider(_("Label smoothing"), SMOOTHING_CHOICES, key="label_smoothing")
            st.checkbox(_("Augment (random rotation, scale, shift)"), key="augment")
            widths = width_choices(st.session_state.model)
            if st.session_state.width not in widths:
                st.session_state.width = 0
            st.selectbox(_("Width"), widths, key="width", disabled=len(widths) == 1,
                         format_func={w: _("the model's default") if w == 0 else str(w) for w in widths}.get,
                         help=_("Hidden units (mlp) or channels of the first layer (cnn)."))
        settings = {k: st.session_state[k] for k in KEYS}
        config = TrainConfig(**settings)
        refusal = work_refusal(config)
        train_clicked = st.button(_("Train"), key="train", type="primary", width="stretch", disabled=bool(refusal))
        sweep_clicked = st.button(_("Learning-rate sweep ({rates})").format(
                                      rates=", ".join(format_lr(x) for x in SWEEP_LRS)),
                                  key="sweep", width="stretch", disabled=bool(refusal),
                                  help=_("Train these settings once per learning rate and overlay the curves."))
        if (train_clicked or sweep_clicked) and not refusal:
            st.html(CLOSE_SIDEBAR_ON_A_PHONE, unsafe_allow_javascript=True)
        if refusal:
            st.warning(refusal)
        else:
            st.caption(_("This training: {estimate} on a 2-core CPU (an estimate; a GPU is faster).").format(
                estimate=work_estimate(config)))
        st.button(_("Reset to the tutorial"), key="reset", on_click=reset_to_tutorial, width="stretch")
        if session.visitor().store_down:
            st.caption(_("The run store is unavailable: your runs are kept in this browser tab only, and a reload "
                         "loses them. The settings are in the page's address."))
        elif session.visitor().ws is None:
            st.caption(_("The settings are in the page's address. Your first training makes your workspace, "
                         "and the address then keeps it too."))
        else:
            st.caption(_("The settings and your workspace are in the page's address: bookmark it to come back to "
                         "your runs. Anyone with this address can change your runs: share runs with their Share "
                         "link (on the Runs page), not this address."))
    sync_url(settings)
    return config, train_clicked, sweep_clicked


def work_refusal(config: TrainConfig) -> str | None:
    """Why this server will not train ``config`` (its estimated time or memory is over the host's limits)."""
    try:
        work_limits().check(config)
    except ValueError as exc:  # WorkLimitError, or a setting the config refuses
        return _("Not on this server: {reason}").format(reason=i18n.message(exc))
    return None


def work_estimate(config: TrainConfig) -> str:
    """How long and how much memory a training takes (mnist_core.budget's estimate), in the page's language."""
    work = estimate_work(config)
    memory = _("{megabytes} MB").format(megabytes=i18n.number(work.peak_bytes / 2 ** 20))
    if work.seconds < 0.5:  # not "about 0 s"
        return _("under a second and {memory}").format(memory=memory)
    return _("about {duration} and {memory}").format(duration=i18n.duration(work.seconds), memory=memory)


@st.cache_resource
def work_limits() -> WorkLimits:
    """The host's limits on one training: MNIST_MAX_TRAIN_SECONDS, MNIST_MAX_TRAIN_MEMORY_MB (0: none)."""
    try:
        return WorkLimits.from_env()
    except ValueError as exc:
        st.error(_("{problem}; the default limits apply.").format(problem=i18n.message(exc)))
        return WorkLimits()
