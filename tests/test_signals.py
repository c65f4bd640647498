"""What the page's signals teach: each number, chart and note says what the tutorial means by it."""

from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

from dashboard import charts, compare, training
from playground.runs import Run, sweep_configs, sweeps
from mnist_core import TrainConfig



def fake_run(number, accuracy=0.9, costs=(0.6, 0.5), **config):
    """A finished run as the page sees it, without training: its epochs' cost and test accuracy."""
    epochs = [SimpleNamespace(cost=c, test_accuracy=accuracy, seconds=1.0) for c in costs]
    job = SimpleNamespace(config=TrainConfig(**config), status="completed", done=True, result=None,
                          snapshot=lambda: SimpleNamespace(epochs=epochs, device="cpu", worker=""))
    return Run(number, job)


def show_outcome(shown, runs):
    from dashboard.training import outcome
    outcome(shown, runs)


def show_compare(runs):
    import streamlit as st

    from dashboard.compare import compare_section
    from playground.workspace import Visitor
    st.session_state.visitor = Visitor(run_list=runs)
    compare_section()


def outcome_page(shown, runs):
    at = AppTest.from_function(show_outcome, args=(shown, runs), default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_a_result_equal_to_the_tutorial_gets_no_green_arrow():
    from streamlit.proto.Metric_pb2 import Metric
    at = outcome_page(fake_run(1, accuracy=0.904), [fake_run(1, accuracy=0.904)])
    gray, green = Metric.MetricColor.GRAY, Metric.MetricColor.GREEN
    shown = at.metric[0].proto
    assert shown.delta == "the same as the tutorial" and shown.color == gray and shown.direction != Metric.UP
    at = outcome_page(fake_run(1, accuracy=0.91, lr=0.5), [fake_run(1, accuracy=0.91, lr=0.5)])
    assert at.metric[0].proto.color == green and at.metric[0].proto.direction == Metric.UP


def test_a_result_is_measured_against_the_tutorial_not_the_previous_run():
    # a better-than-the-tutorial run after an even better one: green, against the tutorial
    best, good = fake_run(1, accuracy=0.98, model="mlp"), fake_run(2, accuracy=0.95, lr=0.5)
    at = outcome_page(good, [best, good])
    delta = at.metric[0].delta
    assert delta.startswith("+4.60 percentage points") and "run #1" not in delta
    assert any("known accuracy, 90.40%" in c.value for c in at.caption)
    # with a run of the tutorial's settings in the workspace (any seed), that run is the reference
    tutorial = fake_run(3, accuracy=0.91, seed=7)
    at = outcome_page(good, [best, tutorial, good])
    assert at.metric[0].delta.startswith("+4.00 percentage points")
    assert any("run #3, the tutorial's settings (91.00%)" in c.value for c in at.caption)
    assert training.is_tutorial(TrainConfig(seed=3, device="cpu")) and not training.is_tutorial(TrainConfig(epochs=3))


def test_the_live_chart_explains_the_cost_and_why_label_smoothing_keeps_it_high():
    assert "ln 10 = 2.30" in training.cost_explained(TrainConfig())
    assert "label smoothing" not in training.cost_explained(TrainConfig())
    smoothed = training.cost_explained(TrainConfig(model="mlp", label_smoothing=0.1))
    assert "label smoothing 0.1" in smoothed and "above ~0.5" in smoothed
    assert abs(training.smoothed_cost_floor(0.1) - 0.500) < 0.001


def show_live(runs):
    import streamlit as st

    from dashboard.training import live
    from playground.workspace import Visitor
    st.session_state.visitor = Visitor(run_list=runs, seen_done={r.number for r in runs if r.done})
    live()


def test_the_live_chart_is_built_once_per_run_and_a_new_epoch_only_adds_its_points(monkeypatch):
    import json
    built, build = [], charts.live_figure
    monkeypatch.setattr(charts, "live_figure", lambda *args: built.append(args) or build(*args))
    runs = [fake_run(1)]
    at = AppTest.from_function(show_live, args=(runs,), default_timeout=30)
    at.run()
    at.run()                                                   # a refresh with nothing new
    assert not at.exception and len(built) == 1 and len(at.get("plotly_chart")) == 1
    runs[0] = fake_run(1, costs=(0.6, 0.5, 0.4))               # an epoch more
    at.run()
    drawn = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    assert len(built) == 1 and drawn[0]["y"] == [0.6, 0.5, 0.4] and drawn[1]["y"] == [90.0, 90.0, 90.0]
    runs[0] = fake_run(2)                                       # another run: a figure of its own
    at.run()
    assert len(built) == 2 and json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"] == [0.6, 0.5]


def show_sidebar():
    import streamlit as st

    from dashboard.settings import tutorial_settings
    from dashboard.sidebar import sidebar
    from playground.workspace import Visitor
    if "visitor" not in st.session_state:  # what the page's session holds (dashboard.session), no store needed
        st.session_state.update(tutorial_settings(), visitor=Visitor())
    sidebar()


def sidebar_page():
    at = AppTest.from_function(show_sidebar, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_choosing_a_model_says_what_its_preset_changed_and_offers_the_fair_comparison():
    at = sidebar_page()
    at.sidebar.selectbox(key="model").set_value("cnn").run()
    assert not at.exception
    notes = [i.value for i in at.sidebar.info]
    assert notes == ["The cnn comes with its preset cnn-fast: learning rate 0.1 → 0.01, batch size 1000 → 256, "
                     "epochs 10 → 2, optimizer sgd → adam, schedule constant → onecycle, "
                     "label smoothing 0 → 0.1."]
    at.sidebar.button(key="fair").click().run()
    sb = at.sidebar
    assert sb.selectbox(key="model").value == "cnn"
    chosen = {k: at.session_state[k] for k in ("lr", "batch_size", "epochs", "optimizer", "schedule",
                                                "label_smoothing", "augment", "width")}
    tutorial = TrainConfig()
    assert chosen == {k: getattr(tutorial, k) for k in chosen}
    assert dict(at.query_params)["lr"] == "0.1"
    sb.select_slider(key="lr").set_value(0.5).run()  # settings of one's own: the note has had its say
    assert not at.sidebar.info


def test_the_batch_size_caption_counts_an_epochs_updates():
    at = sidebar_page()
    assert any("at batch size 1,000, 60 updates" in c.value for c in at.sidebar.caption)
    at.sidebar.select_slider(key="batch_size").set_value(32).run()
    assert any("at batch size 32, 1,875 updates" in c.value for c in at.sidebar.caption)


def test_train_on_a_phone_closes_the_sidebar():
    at = sidebar_page()
    def closers():
        return [h.proto.body for h in at.get("html") if "stSidebarCollapseButton" in h.proto.body]
    assert not closers()
    at.sidebar.button(key="train").click().run()
    assert len(closers()) == 1 and "max-width: 767px" in closers()[0]
    at.run()
    assert not closers()  # once, for the click: a later redraw leaves the visitor's sidebar alone


def sweep_and_more():
    runs = [fake_run(1, accuracy=0.97, model="mlp", optimizer="adam", epochs=3)]
    runs += [fake_run(2 + i, accuracy=0.8 + i / 100, lr=lr, epochs=2) for i, lr in enumerate((0.001, 0.01, 0.1, 1.0))]
    runs += [fake_run(n, accuracy=0.9, lr=0.5, seed=n, batch_size=256) for n in range(6, 13)]
    return runs


def test_compare_puts_accuracy_first_groups_a_sweep_and_charts_the_chosen_runs():
    runs = sweep_and_more()
    at = AppTest.from_function(show_compare, args=(runs,), default_timeout=30)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["run", "test accuracy (%)", "sweep"]
    assert list(table["sweep"][:6]) == ["", *["sweep #2–#5"] * 4, ""]
    chosen = at.multiselect[0]
    assert chosen.value == [9, 10, 11, 12]  # the latest few
    chosen.set_value([1, 2, 3, 4, 5, 12]).run()
    figure = charts.compare_figure(compare.curves_of([r for r in runs if r.number in chosen.value],
                                                     compare.sweeps(runs)))
    names = [t.name for t in figure.data]
    assert names == ["#1", "#2 lr=0.001", "#3 lr=0.01", "#4 lr=0.1", "#5 lr=1", "#12"]  # short: no wall
    assert {t.legendgroup for t in figure.data[1:5]} == {"sweep #2–#5"} and figure.data[0].legendgroup is None
    assert "model=mlp" in figure.data[0].hovertemplate                     # what differs, on hover
    assert figure.layout.legend.orientation == "v" and figure.layout.height == 380


def test_sweeps_are_four_runs_in_a_row_alike_but_for_the_learning_rate():
    sweep = [fake_run(n, lr=lr) for n, lr in zip(range(1, 5), (0.001, 0.01, 0.1, 1.0))]
    assert [c.lr for c in sweep_configs(TrainConfig())] == [r.config.lr for r in sweep]  # what the sidebar submits
    assert sweeps(sweep) == {n: (1, 4) for n in range(1, 5)}
    assert set(compare.sweeps(sweep).values()) == {"sweep #1–#4"}                 # as the page names it
    assert sweeps(sweep[:3]) == {}
    assert sweeps([*sweep[:3], fake_run(4, lr=1.0, epochs=3)]) == {}      # one setting more differs
    assert sweeps([*sweep[:2], *[fake_run(n, lr=lr) for n, lr in ((5, 0.1), (6, 1.0))]]) == {}  # not in a row
    assert compare.default_charted([fake_run(0), *sweep], compare.sweeps(sweep)) == [1, 2, 3, 4]


def show_prediction():
    import streamlit as st
    import torch

    from dashboard.draw import draw_and_classify
    st.session_state.canvas_key = 0
    draw_and_classify(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)), "a linear model")


def test_the_probability_bars_say_they_come_from_ten_scores_through_softmax(drawn_digit):
    at = AppTest.from_function(show_prediction, default_timeout=30)
    at.run()
    assert not at.exception
    assert any("ten scores" in c.value and "softmax" in c.value and "784 pixels" in c.value for c in at.caption)


def show_templates():
    from types import SimpleNamespace

    from dashboard.learned import learned_section
    from mnist_core import TrainConfig
    from mnist_core.models import build_model
    learned_section(SimpleNamespace(config=TrainConfig(), model=build_model("linear")), tuple("0123456789"))


def test_the_weight_templates_say_784_is_28_by_28_flattened():
    at = AppTest.from_function(show_templates, default_timeout=30)
    at.run()
    assert not at.exception
    assert any("28 × 28 image flattened into one row of 784" in c.value for c in at.caption)


def waiting_run(number, ahead):
    """A run whose job waits in the queue with ``ahead`` trainings before it (0: it starts next)."""
    snap = SimpleNamespace(epochs=[], device="", worker="", status="queued", queue_position=ahead,
                           stop_requested=False, note="")
    job = SimpleNamespace(config=TrainConfig(), status="queued", done=False, result=None, snapshot=lambda: snap)
    return Run(number, job)


def show_live_after_waiting(runs):
    import streamlit as st

    from dashboard import training
    from playground.workspace import Visitor
    st.session_state.visitor = Visitor(run_list=runs)
    st.session_state.passes = st.session_state.get("passes", 0) + 1
    if st.session_state.passes == 1:
        st.session_state.live_refresh = training.QUEUED_REFRESH_SECONDS  # set by the whole run while it waited
    else:
        training.refresh_seconds()                                       # what the page's whole run does
    training.live()


def show_refresh(runs):
    import streamlit as st

    from dashboard import training
    from playground.workspace import Visitor
    st.session_state.visitor = Visitor(run_list=runs)
    training.refresh_seconds()


def test_a_run_behind_others_refreshes_slowly_and_its_turn_brings_the_quick_refresh_back():
    at = AppTest.from_function(show_live_after_waiting, args=([waiting_run(1, ahead=3)],), default_timeout=30)
    at.run()
    assert not at.exception and at.session_state.passes == 1
    assert any("3 trainings queued ahead" in i.value for i in at.info)
    refresh = AppTest.from_function(show_refresh, args=([waiting_run(1, ahead=3)],), default_timeout=30)
    refresh.run()
    assert refresh.session_state.live_refresh == training.QUEUED_REFRESH_SECONDS
    # its turn has come (next in the queue): the whole page runs again and refreshes every half second
    at = AppTest.from_function(show_live_after_waiting, args=([waiting_run(1, ahead=0)],), default_timeout=30)
    at.run()
    assert not at.exception and at.session_state.passes == 2
    assert at.session_state.live_refresh == training.REFRESH_SECONDS == 0.5
