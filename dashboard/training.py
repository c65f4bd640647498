"""Training, live: submit trainings to the backend and follow them without blocking the page.

The section is a fragment that redraws itself every half second while a run of
this visitor trains (chart, progress, queue position, Stop), every two seconds
while its runs wait behind other trainings; every other part of the page stays
usable meanwhile. When a run ends, the whole page redraws once.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace

import streamlit as st

from dashboard import charts, i18n, resources, session
from dashboard.i18n import _, ngettext
from dashboard.settings import format_lr
from mnist_core import TrainConfig
from mnist_core.advice import CHANCE_COST
from playground.runs import Run, advice

REFRESH_SECONDS = 0.5          # while a run of this visitor trains: its progress bar, and its end shown at once
# While every run of this visitor waits behind other trainings: its place in the queue moves once per training
# ended. Thirty visitors pressing Train at once are thirty fragments ticking, each tick a script run.
QUEUED_REFRESH_SECONDS = 2.0
TUTORIAL = TrainConfig()
# What the tutorial's settings score on the test set, the mean over 3 seeds (benchmarks/README.md,
# section 2 "Every preset"): the reference of a run's accuracy until the workspace has a tutorial run of its own.
TUTORIAL_ACCURACY = 0.9040


def owner() -> str:
    """Whose trainings these are, for the backend's fair share: the workspace, else this browser tab; fixed at
    the tab's first training (which may be what makes its workspace), so the count never starts again."""
    return st.session_state.setdefault("owner_key", session.visitor().ws or uuid.uuid4().hex)


def submit(configs: list[TrainConfig]) -> None:
    """Hand each config to the backend, several (a sweep) as one submission, and keep their runs; a setting that
    cannot train, or a visitor with too many trainings queued, is a message, not a run."""
    group = uuid.uuid4().hex if len(configs) > 1 else None
    who = owner()  # read before the action (dashboard.session says why); a backend that cannot start (Ray
    # unreachable) raises in the action, before any training is submitted, and is said as a refusal is
    _, notices = session.train(lambda config: resources.backend().submit(config, owner=who, group=group), configs)
    session.notify(notices)
    ws = session.visitor().ws
    if ws is not None and st.query_params.get("ws") != ws:
        st.query_params["ws"] = ws  # the first training made the workspace: the address keeps it now


def training_section(configs: list[TrainConfig]) -> None:
    st.subheader(_("Training, live"))
    if configs:
        st.session_state.lasting = []
        submit(configs)
    training = session.settle_runs()
    session.show_notices()
    st.fragment(run_every=refresh_seconds() if training else None)(live)()


def refresh_seconds() -> float:
    """How often the live section redraws while this visitor has a run not ended (kept for :func:`live`)."""
    waiting = all(behind_others(r) for r in session.runs() if not r.done)
    st.session_state.live_refresh = QUEUED_REFRESH_SECONDS if waiting else REFRESH_SECONDS
    return st.session_state.live_refresh


def behind_others(run: Run) -> bool:
    """Queued with other trainings ahead of it: it cannot start before one of them ends."""
    if run.job is None:
        return False
    snap = run.job.snapshot()
    return snap.status == "queued" and (snap.queue_position or 0) > 0


def runs_or_rerun() -> list[Run]:
    """This visitor's runs, fresh; when one has ended, the whole page is redrawn instead."""
    runs = session.runs()
    if any(not r.done and r.job is None for r in runs):
        runs = session.load_runs()  # a run another server process trains: its news is in the store
    if any(r.done and r.number not in session.visitor().seen_done for r in runs):
        st.rerun()  # a run has ended: redraw the whole page (its result, mistakes, the drawing's model)
    return runs


def live() -> None:
    runs = runs_or_rerun()
    slow = st.session_state.get("live_refresh") == QUEUED_REFRESH_SECONDS
    if slow and not all(behind_others(r) for r in runs if not r.done):
        st.rerun()  # a run's turn has come: the whole page again, which sets the quicker refresh
    if not runs:
        st.info(_("Choose settings in the sidebar (» at the top left on a phone) and press **Train**. "
                  "With the tutorial's settings (softmax regression, SGD, learning rate 0.1, 10 epochs) "
                  "it takes about a second."))
        return
    active = [r for r in runs if not r.done]
    shown = next((r for r in active if r.status == "running"), active[0] if active else runs[-1])
    if active:
        progress(shown, active)
    costs = shown.costs
    if costs:
        st.plotly_chart(live_figure(shown), width="stretch", key="live-chart")
        st.caption(cost_explained(shown.config))
    if not active:
        outcome(shown, runs)


def live_figure(run: Run):
    """The live chart's figure, built once per run and language (its titles are words) and kept per visitor;
    a new epoch replaces its curves' points only. Building a figure takes 20-50 ms of the GIL the trainings
    share, once per epoch 0.2 s of a tutorial's Train; replacing the points 0.5 ms."""
    frame = (run.number, run.config.epochs, i18n.language())
    points = (tuple(run.costs), tuple(run.accuracies))
    kept = st.session_state.get("live_figure")
    if kept is None or kept["frame"] != frame:
        kept = st.session_state.live_figure = {"frame": frame, "points": points,
                                               "figure": charts.live_figure(run.costs, run.accuracies,
                                                                            run.config.epochs)}
    elif kept["points"] != points:
        charts.set_live_points(kept["figure"], run.costs, run.accuracies)
        kept["points"] = points
    return kept["figure"]


def progress(run: Run, active: list[Run]) -> None:
    config = run.config
    what = _("run #{number}: {model}, lr {lr}, {optimizer}, batch {batch}").format(
        number=run.number, model=config.model, lr=format_lr(config.lr), optimizer=config.optimizer,
        batch=config.batch_size)
    more = ngettext(" ({count} more after it)", " ({count} more after it)", len(active) - 1).format(
        count=len(active) - 1) if len(active) > 1 else ""
    if run.job is None:  # trained by another server process sharing the store: epochs as they are written
        st.info(_("Training {what} on {device} ({worker}){more}…").format(
            what=what, device=run.device, worker=worker_words(run) or _("another server"), more=more))
        st.progress(min(len(run.costs) / config.epochs, 1.0), text=_("{done} of {epochs} epochs").format(
            done=len(run.costs), epochs=config.epochs))
        return
    snap = run.job.snapshot()
    if snap.stop_requested:
        st.info(_("Stopping {what}…").format(what=what))
    elif snap.status == "queued":
        ahead = snap.queue_position or 0
        st.info(ngettext("Waiting for a free training slot: {count} training queued ahead of {what}{more}. You can "
                         "use the rest of the page meanwhile.",
                         "Waiting for a free training slot: {count} trainings queued ahead of {what}{more}. You can "
                         "use the rest of the page meanwhile.", ahead).format(count=ahead, what=what, more=more))
    else:
        st.info(_("Training {what} on {device} ({worker}){more}…").format(
            what=what, device=snap.device, worker=worker_words(run), more=more))
        done = snap.batches_done / snap.batches_total if snap.batches_total else 0.0
        st.progress(min(done, 1.0), text=_("epoch {epoch} of {epochs}").format(
            epoch=min(len(snap.epochs) + 1, config.epochs), epochs=config.epochs)
                    if snap.note == "training" else i18n.core_words().gettext(snap.note))
    st.button(_("Stop training"), key="stop", on_click=stop, args=([r.number for r in active],))


def stop(numbers: list[int]) -> None:
    for run in session.runs():
        if run.number in numbers and run.job is not None:
            run.job.stop()


def outcome(run: Run, runs: list[Run]) -> None:
    if run.status == "interrupted":
        st.warning(_("Run #{number} was interrupted after {epochs} epoch(s): the server stopped while it trained. "
                     "Its epochs are kept; train again for a model.").format(number=run.number,
                                                                            epochs=len(run.costs)))
    if run.status == "stopped":
        st.warning(_("Run #{number} was stopped after {epochs} epoch(s); its model and its evaluation are "
                     "kept.").format(number=run.number, epochs=len(run.costs)))
    tip = advice(run, i18n.words(), i18n.core_words())
    if tip:
        getattr(st, tip[0])(tip[1])
    c1, c2, c3 = st.columns([2, 1, 1])
    acc = run.accuracy
    delta, colour, arrow = None, "normal", "auto"
    if acc is not None:
        reference, words = tutorial_reference(run, runs)
        # TRANSLATORS: keep {points} first: Streamlit reads the arrow's direction from the delta's first character
        delta = _("{points} percentage points vs the tutorial").format(points=f"{100 * (acc - reference):+.2f}")
        if round(100 * (acc - reference), 2) == 0:
            delta, colour, arrow = _("the same as the tutorial"), "off", "off"  # no arrow: it only equals it
    c1.metric(_("Test accuracy"), i18n.percent(acc) if acc is not None else "—", delta, delta_color=colour,
              delta_arrow=arrow)
    c2.metric(_("Training time"), i18n.seconds(run.seconds))
    c3.metric(_("Device"), run.device)
    if acc is not None:
        st.caption(_("Compared with {reference}.").format(reference=words))
    if run.worker:
        st.caption(_("Trained by {worker}.").format(worker=worker_words(run)))


def worker_words(run: Run) -> str:
    """Who trains ``run`` (playground.runs.Run.worker), in the visitor's language."""
    return _(run.worker) if run.worker else ""


def is_tutorial(config: TrainConfig) -> bool:
    """The tutorial's settings, whatever the seed and the device."""
    return replace(config, seed=TUTORIAL.seed, device=TUTORIAL.device) == TUTORIAL


def tutorial_reference(run: Run, runs: list[Run]) -> tuple[float, str]:
    """What a run's accuracy is measured against: the workspace's latest run with the tutorial's settings, else
    the tutorial's known accuracy. Always the tutorial, not the previous run: a good run after a better one
    is still a good run."""
    tutorials = [r for r in runs if r is not run and r.done and r.accuracy is not None and is_tutorial(r.config)]
    if tutorials:
        last = tutorials[-1]
        return last.accuracy, _("run #{number}, the tutorial's settings ({accuracy})").format(
            number=last.number, accuracy=i18n.percent(last.accuracy))
    if is_tutorial(run.config):
        known = _("the tutorial's known accuracy, {accuracy} (its settings, mean of 3 seeds)")
    else:
        known = _("the tutorial's known accuracy, {accuracy} (its settings, mean of 3 seeds): train them once to "
                  "compare with your own run")
    return TUTORIAL_ACCURACY, known.format(accuracy=i18n.percent(TUTORIAL_ACCURACY))


def smoothed_cost_floor(smoothing: float, classes: int = 10) -> float:
    """The lowest cross-entropy label smoothing allows: the entropy of its smoothed target."""
    right, wrong = 1 - smoothing + smoothing / classes, smoothing / classes
    return -right * math.log(right) - (classes - 1) * wrong * math.log(wrong)


def cost_explained(config: TrainConfig) -> str:
    """What the cost is, and why a run with label smoothing cannot bring it near 0."""
    text = _("The cost is the cross-entropy: minus the log of the probability the model gives the right digit, "
             "averaged over the epoch. Guessing (1/10 for every digit) costs ln 10 = {chance}; "
             "a perfect model, 0.").format(chance=f"{CHANCE_COST:.2f}")
    if config.label_smoothing > 0:
        text += _(" This run uses label smoothing {smoothing}: its targets spread {share} of the probability "
                  "over all ten digits, so its cost stays above ~{floor} even when nearly every digit is "
                  "right.").format(smoothing=f"{config.label_smoothing:g}", share=f"{100 * config.label_smoothing:g}%",
                                   floor=f"{smoothed_cost_floor(config.label_smoothing):.1f}")
    return text
