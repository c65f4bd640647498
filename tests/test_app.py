"""The page, headless, through Streamlit's AppTest."""

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.navigation import HANDWRITING, INSIDE, RUNS, TRAIN
from dashboard.settings import KEYS
from helpers import ROOT, as_jpeg, number_photo, visit
from playground.text import plain

APP = str(ROOT / "streamlit_app.py")


@pytest.fixture
def app(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    return at


def figures(at):
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def figure_titled(at, title):
    for fig in figures(at):
        if fig["layout"].get("title", {}).get("text") == title:
            return fig
    raise AssertionError(f"no chart titled {title!r}")


def mistake_grid(at):
    grids = [el.proto.imgs for el in at.get("image") if any("→" in img.caption for img in el.proto.imgs)]
    return grids[0] if grids else []


def metric(at, name):
    return next(m for m in at.metric if m.label == name)


def settle(at, timeout=180):
    """Trainings run in the background: wait for every run of this session, then redraw the page."""
    for run in at.session_state.visitor.run_list:
        assert run.job is None or run.job.wait(timeout), f"run #{run.number} did not end within {timeout} s"
    at.run()
    assert not at.exception
    return at


def press(at, key="train"):
    at.button(key=key).click().run()
    assert not at.exception
    return settle(at)


@pytest.fixture(scope="module")
def trained(mnist):
    """``trained(model)``: a finished one-epoch run of ``model`` as ``(config, JobResult)``, made once per
    module. Trained on a tenth of the training set, at the model's narrowest width: the tests that look at a
    run need one with a model and an evaluation on the whole test set, not a good model, nor the page's Train
    and its wait."""
    from mnist_core import TrainConfig
    from mnist_core.data import MnistData
    from mnist_core.jobs import run_training
    from mnist_core.models import model_spec
    tenth = MnistData(mnist.train_images[:6000], mnist.train_labels[:6000], mnist.test_images, mnist.test_labels,
                      mnist.classes)
    done = {}

    def run(model: str = "linear"):
        if model not in done:
            config = TrainConfig(model=model, epochs=1, device="cpu", width=min(model_spec(model).widths, default=0))
            done[model] = config, run_training(config, tenth)
            assert done[model][1].status == "completed"
        return done[model]
    return run


def finished_runs(run, count: int = 1):
    """A workspace in the page's store with ``count`` copies of the finished ``run`` (``trained(model)``),
    written as the page's recorder writes a training's run: created, running, then its result."""
    config, result = run
    store, ws = stored_runs(0)
    for _ in range(count):
        stored, _ = store.add_run(ws, config.to_dict())
        store.heartbeat(stored.id, status="running", device=result.device, worker=result.worker)
        store.finish_run(stored.id, result)
    return store, ws


def test_renders_with_the_tutorials_defaults(app):
    sb = app.sidebar
    assert sb.selectbox(key="model").value == "linear"
    assert sb.select_slider(key="lr").value == 0.1
    assert sb.select_slider(key="batch_size").value == 1000
    assert sb.slider(key="epochs").value == 10
    assert sb.selectbox(key="optimizer").value == "sgd"
    assert "cpu" in sb.selectbox(key="device").options
    assert any("press **Train**" in i.value for i in app.info)
    assert set(app.query_params) == set()  # the tutorial's settings, and no workspace made for looking


def test_train_shows_accuracy_chart_and_a_run(app):
    app.sidebar.select_slider(key="lr").set_value(0.5)
    app.sidebar.slider(key="epochs").set_value(3)
    press(app)
    assert not app.exception
    acc = float(metric(app, "Test accuracy").value.rstrip("%"))
    assert 85 < acc < 95
    assert float(metric(app, "Training time").value.split()[0]) > 0
    live = figure_titled(app, "Training")
    assert len(live["data"][0]["y"]) == 3  # one cost per epoch
    assert dict(app.query_params) == {"lr": "0.5", "epochs": "3", "ws": app.session_state.visitor.ws}
    table = app.switch_page(RUNS).run().dataframe[0].value
    assert len(table) == 1 and table["lr"][0] == "0.5" and table["epochs"][0] == 3
    # a second run is measured against the tutorial, never against the run before it
    app.switch_page(TRAIN).run().sidebar.select_slider(key="lr").set_value(0.1)
    press(app)
    assert "percentage points vs the tutorial" in metric(app, "Test accuracy").delta
    assert len(app.switch_page(RUNS).run().dataframe[0].value) == 2


def test_learning_rate_sweep_overlays_curves(app):
    app.sidebar.slider(key="epochs").set_value(2)
    press(app, "sweep")
    assert not app.exception
    app.switch_page(RUNS).run()
    compare = figure_titled(app, "Cost per epoch, every run")
    names = [trace["name"] for trace in compare["data"]]
    assert len(names) == 4 and all("lr=" in n for n in names)
    assert sorted(app.dataframe[0].value["lr"]) == ["0.001", "0.01", "0.1", "1"]


def test_mistakes_grid_fills_and_filters(mnist_root, monkeypatch, trained):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained("linear"))
    app = visit({"ws": ws})
    grid = mistake_grid(app)
    assert len(grid) == 40 and all("→" in img.caption for img in grid)
    confidences = [float(img.caption.split("(")[1].rstrip("%)")) for img in grid]
    assert confidences == sorted(confidences, reverse=True)
    app.selectbox(key="filter_true").set_value(5).run()
    grid = mistake_grid(app)
    assert grid and all(img.caption.startswith("5 →") for img in grid)
    figure_titled(app, "Confusion matrix (mistakes in red)")
    app.switch_page(INSIDE).run()
    assert any("weighted sum" in c.value for c in app.caption)  # the weight templates, as one image
    templates = [el for el in app.get("image") if any("labelled with its digit" in i.caption for i in el.proto.imgs)]
    assert len(templates) == 1


def test_nan_cost_shows_a_message_and_the_page_stays_usable(mnist_root, monkeypatch):
    """A run whose cost turned into NaN, as the store keeps it (the loop's own check is test_train's, the
    store's test_store's): the page says what to change, draws its curve, and trains on."""
    from mnist_core import TrainConfig
    from mnist_core.train import EpochReport
    from playground.store import RunStore
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    store = RunStore()
    ws = store.new_workspace()
    run, _ = store.add_run(ws, TrainConfig(model="mlp", optimizer="momentum", lr=10.0, batch_size=32,
                                           epochs=3).to_dict())
    store.add_epoch(run.id, EpochReport(1, float("nan"), None, None, 4.0, 3))
    store.heartbeat(run.id, status="diverged")
    app = visit({"ws": ws, "epochs": "1"})
    assert any("diverged" in e.value and "smaller" in e.value for e in app.error)
    press(app)
    assert not app.exception and metric(app, "Test accuracy").value.endswith("%")


def test_query_parameters_restore_settings(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"lr": "0.01", "epochs": "3", "optimizer": "adam", "batch_size": "250",
                            "model": "mlp", "seed": "not-a-number"})
    at.run()
    sb = at.sidebar
    assert sb.select_slider(key="lr").value == 0.01
    assert sb.slider(key="epochs").value == 3
    assert sb.selectbox(key="optimizer").value == "adam"
    assert sb.select_slider(key="batch_size").value == 256  # snapped to the nearest choice
    assert sb.selectbox(key="model").value == "mlp"
    assert sb.number_input(key="seed").value == 0         # unusable values are ignored
    at.button(key="reset").click().run()
    assert at.sidebar.select_slider(key="lr").value == 0.1 and at.sidebar.selectbox(key="model").value == "linear"


def test_runs_can_be_removed(mnist_root, monkeypatch, trained):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained("linear"), count=2)
    app = visit({"ws": ws}).switch_page(RUNS).run()
    assert len(app.dataframe[0].value) == 2
    app.button(key="remove-1").click().run()
    assert list(app.dataframe[0].value["run"]) == [2]


def test_missing_data_is_a_message_not_a_traceback(no_mnist):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    press(at)
    assert not at.exception
    assert any("MNIST data not found" in e.value and "MNIST_DATA_DIR" in e.value for e in at.error)


def test_sessions_do_not_share_runs(mnist_root, monkeypatch, trained):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained("linear"))
    app = visit({"ws": ws})
    other = AppTest.from_file(APP, default_timeout=60)
    other.run()
    assert len(app.session_state.visitor.run_list) == 1 and len(other.session_state.visitor.run_list) == 0


def test_choosing_a_model_brings_its_preset(app):
    app.sidebar.selectbox(key="model").set_value("cnn").run()
    sb = app.sidebar
    assert sb.selectbox(key="optimizer").value == "adam" and sb.slider(key="epochs").value == 2
    assert sb.selectbox(key="schedule").value == "onecycle"
    assert dict(app.query_params) == {"model": "cnn"}  # differences from the preset (no workspace for looking)
    app.sidebar.selectbox(key="preset").set_value("cnn-best").run()
    assert app.sidebar.selectbox(key="width").value == 32 and app.sidebar.checkbox(key="augment").value
    assert app.sidebar.selectbox(key="preset").value is None
    app.sidebar.selectbox(key="preset").set_value("tutorial").run()
    assert app.sidebar.selectbox(key="model").value == "linear" and app.sidebar.select_slider(key="lr").value == 0.1


def test_a_link_naming_a_model_opens_its_preset(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"model": "cnn", "epochs": "3", "width": "8"})
    at.run()
    sb = at.sidebar
    assert sb.selectbox(key="optimizer").value == "adam" and sb.slider(key="epochs").value == 3
    assert sb.selectbox(key="width").value == 8


def test_uploaded_photos_are_read_and_bad_ones_explained(app, mnist):
    good = as_jpeg(number_photo(mnist, "2024"))
    app.switch_page(HANDWRITING).run().file_uploader(key="photos").set_value([
        ("2024.jpg", good, "image/jpeg"),
        ("notes.png", b"this is not an image", "image/png"),
        ("cut.jpg", good[:len(good) // 3], "image/jpeg"),
        ("empty.png", b"", "image/png"),
    ]).run()
    assert not app.exception
    numbers = [m.value for m in app.markdown if "font-size:3rem" in m.value]
    assert len(numbers) == 1 and ">2024<" in numbers[0]
    errors = " ".join(e.value for e in app.error)
    assert f"{plain('notes.png')}: not a PNG, JPEG or WebP image" in errors
    assert f"{plain('cut.jpg')}: the image could not be read" in errors
    assert f"{plain('empty.png')}: the file is empty" in errors
    app.switch_page(TRAIN).run().sidebar.slider(key="epochs").set_value(1)
    press(app)  # the page stays usable
    assert not app.exception and metric(app, "Test accuracy").value.endswith("%")


def test_a_file_name_is_shown_as_text_not_markdown(app):
    name = "**bold** [link](http://127.0.0.1:9/) 1. `code` $x$.png"
    app.switch_page(HANDWRITING).run().file_uploader(key="photos").set_value([(name, b"not an image", "image/png")]).run()
    assert not app.exception
    shown = [e.value for e in app.error if "not a PNG" in e.value]
    assert shown == [f"{plain(name)}: not a PNG, JPEG or WebP image."]


@pytest.fixture
def one_slot(mnist_root, monkeypatch):
    """A fresh server-wide backend with a single training slot."""
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_TRAINING_SLOTS", "1")
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_a_second_visitor_waits_for_the_slot_then_trains(one_slot):
    first, second = AppTest.from_file(APP, default_timeout=60), AppTest.from_file(APP, default_timeout=60)
    first.query_params.update({"model": "cnn", "epochs": "5"})
    first.run(), second.run()
    first.button(key="train").click().run()
    job = first.session_state.visitor.run_list[0].job
    while job.snapshot().batches_done == 0:                     # the first visitor's training is under way
        assert job.wait(0.05) is False
    second.sidebar.slider(key="epochs").set_value(1)
    second.button(key="train").click().run()
    assert any("Waiting for a free training slot: 0 trainings queued ahead" in i.value for i in second.info)
    assert second.session_state.visitor.run_list[0].status == "queued"
    first.button(key="stop").click().run()                     # the first visitor stops: the second goes next
    settle(second)
    assert second.session_state.visitor.run_list[0].status == "completed"
    assert metric(second, "Test accuracy").value.endswith("%")
    settle(first)
    assert first.session_state.visitor.run_list[0].status == "stopped"


def test_clicks_during_a_training_do_not_end_it(app):
    app.sidebar.slider(key="epochs").set_value(8)
    app.button(key="train").click().run()
    job = app.session_state.visitor.run_list[0].job
    app.sidebar.select_slider(key="lr").set_value(0.5).run()     # a slider moved mid-training
    app.sidebar.selectbox(key="preset").set_value("mlp").run()    # a preset chosen
    app.button(key="reset").click().run()
    assert not app.exception and not job.stop_requested
    settle(app)
    assert job.result.status == "completed" and len(job.result.epoch_costs) == 8
    assert job.config.lr == 0.1                                  # the run keeps the settings it started with


@pytest.mark.ray
def test_an_unreachable_ray_cluster_is_a_message_and_the_page_stays_usable(mnist_root, monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                     # nothing listens there once closed
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_BACKEND", "ray")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.button(key="train").click().run()
        assert not at.exception
        assert any("Ray is not reachable" in e.value and "ray start --head" in e.value for e in at.error)
        assert not at.session_state.visitor.run_list
        assert any("Classified by the shipped pretrained model" in c.value for c in at.caption)  # drawing still works
    finally:
        st.cache_resource.clear()


@pytest.mark.parametrize("model, view", [("linear", "Evidence."), ("mlp", "Hidden units."), ("cnn", "Feature maps.")])
def test_inside_views_for_every_model(mnist_root, monkeypatch, trained, model, view):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained(model))
    app = visit({"ws": ws}).switch_page(INSIDE).run()
    app.radio(key="inside_source").set_value("a test image").run()
    app.number_input(key="inside_index").set_value(8).run()              # a 5 that models often misread
    assert not app.exception
    texts = " ".join(m.value for m in app.markdown)
    assert view in texts and "Attribution" in texts
    assert any("Test image #8: a 5" in c.value for c in app.caption)
    titles = [f["layout"].get("title", {}).get("text", "") for f in figures(app)]
    assert any(t.startswith("The model's map of 2,000 test digits") for t in titles)
    first_mistake = int(app.session_state.visitor.run_list[0].evaluation.mistake_indices[0])
    app.selectbox(key="inside_mistake").set_value(first_mistake).run()
    assert app.number_input(key="inside_index").value == first_mistake


# ------------------------------------------------------------------ runs that last and travel (playground.store)

def test_the_workspace_address_shows_its_runs_in_a_new_session(mnist_root, monkeypatch, trained):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained("linear"))
    app = visit({"ws": ws})
    accuracy = metric(app, "Test accuracy").value
    again = visit(dict(app.query_params))                       # a reload, a new tab, another day
    assert again.session_state.visitor.ws == app.session_state.visitor.ws
    assert metric(again, "Test accuracy").value == accuracy
    assert any("Classified by run #1" in c.value for c in again.caption)   # its model reads drawings
    again.switch_page(RUNS).run()
    assert list(again.dataframe[0].value["run"]) == [1]
    again.button(key="remove-1").click().run()
    assert not visit(dict(app.query_params)).session_state.visitor.run_list   # removed for good


def test_a_share_link_is_read_only_and_its_model_reads_drawings(mnist_root, monkeypatch, trained):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = finished_runs(trained("linear"))
    app = visit({"ws": ws})
    accuracy = metric(app, "Test accuracy").value
    app.switch_page(RUNS).run()
    app.context["url"] = "https://demo.example/mnist/runs"     # the Runs page's address, as a browser sends it
    app.button(key="share-1").click().run()
    link = app.session_state.visitor.share_links[1]
    assert link.startswith("https://demo.example/mnist/?run=")  # the first page's address, not the Runs page's
    token = link.rsplit("?run=", 1)[1]
    assert app.session_state.visitor.ws not in link and any(c.value == link for c in app.code)
    viewer = visit({"run": token})
    assert viewer.session_state.visitor.ws is None                     # looking makes no workspace
    assert metric(viewer, "Test accuracy").value == accuracy
    keys = {b.key for b in viewer.button}
    assert not {"train", "sweep", "remove-1", "share-1"} & keys and "copy-shared" in keys
    assert any("Classified by run #1" in c.value for c in viewer.caption)
    assert mistake_grid(viewer)
    viewer.button(key="copy-shared").click().run()
    assert not viewer.exception and viewer.session_state.visitor.shared is None
    assert [r.number for r in viewer.session_state.visitor.run_list] == [1]
    mine = viewer.session_state.visitor.ws
    assert mine != app.session_state.visitor.ws and viewer.query_params["ws"] == mine
    assert [r.number for r in visit(dict(app.query_params)).session_state.visitor.run_list] == [1]  # the owner's stays


@pytest.mark.parametrize("query, words", [
    ({"ws": "../../etc/passwd"}, "workspace id is not valid"),
    ({"ws": "A" * 22}, "No workspace"),
    ({"run": "not-a-token"}, "share link names no run"),
])
def test_bad_workspace_and_share_ids_are_messages_and_a_fresh_page(mnist_root, monkeypatch, query, words):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    at = visit(query)
    assert any(words in w.value for w in at.warning)
    visitor = at.session_state.visitor
    assert visitor.ws is None and not visitor.run_list                   # a workspace comes with a first run
    assert "ws" not in at.query_params and "run" not in at.query_params


def test_an_unreachable_store_keeps_the_run_in_the_tab(mnist_root, monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                     # nothing listens there once closed
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_DB_URL", f"postgresql+psycopg://nobody@127.0.0.1:{port}/runs")
    st.cache_resource.clear()
    try:
        at = visit({"ws": "A" * 22})
        assert any("run store is unavailable" in e.value for e in at.error)
        at.sidebar.slider(key="epochs").set_value(1)
        press(at)
        assert metric(at, "Test accuracy").value.endswith("%")
        assert [r.number for r in at.session_state.visitor.run_list] == [1]
        assert any("Classified by run #1" in c.value for c in at.caption)
        assert at.query_params["ws"] == "A" * 22                # kept for a reload once the store is back
        assert any("kept in this browser tab only" in c.value for c in at.sidebar.caption)
        assert visit({"run": "B" * 22}).query_params["run"] == "B" * 22
    finally:
        st.cache_resource.clear()


def stored_runs(count: int, status: str = "interrupted", epochs: int = 1):
    """A workspace in the page's store (MNIST_STATE_DIR) with ``count`` runs of ``epochs`` planned epochs,
    each with its first epoch written and ``status``, without models."""
    from playground.store import RunStore
    from mnist_core import TrainConfig
    from mnist_core.train import EpochReport
    store = RunStore()
    ws = store.new_workspace()
    for _ in range(count):
        run, _ = store.add_run(ws, TrainConfig(epochs=epochs).to_dict())
        store.add_epoch(run.id, EpochReport(1, 0.6, 0.88, None, 0.2, epochs))
        store.heartbeat(run.id, status=status)
    return store, ws


def test_a_run_left_by_a_stopped_server_shows_as_interrupted(mnist_root, monkeypatch):
    import sqlalchemy as sa

    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    store, ws = stored_runs(1, status="running", epochs=5)
    run = store.runs(ws)[0]
    fresh = visit({"ws": ws})                                   # its server may still be training it
    assert any("Training run #1" in i.value for i in fresh.info)
    with store.engine.begin() as conn:                          # no news for an hour: that server stopped
        conn.execute(sa.text("UPDATE runs SET updated = updated - 3600 WHERE id = :id"), {"id": run.id})
    at = visit({"ws": ws})
    assert any("was interrupted after 1 epoch(s)" in w.value for w in at.warning)
    assert at.session_state.visitor.run_list[0].status == "interrupted" and not any(b.key == "stop" for b in at.button)


def test_a_shared_run_without_a_model_shows_its_curve_and_drawings_use_the_shipped_model(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    store, ws = stored_runs(1)                                  # interrupted after its first epoch: no model
    viewer = visit({"run": store.share(ws, 1)})
    assert any("ended without a model to show (interrupted)" in i.value for i in viewer.info)
    assert any("Classified by the shipped pretrained model" in c.value for c in viewer.caption)
    assert not mistake_grid(viewer)


def test_a_run_removed_meanwhile_is_a_message_to_share_and_to_copy(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    store, ws = stored_runs(2)
    token = store.share(ws, 1)
    owner, viewer = visit({"ws": ws}).switch_page(RUNS).run(), visit({"ws": "not a workspace", "run": token})
    assert viewer.session_state.visitor.ws is None                      # a bad ws beside a share link makes none
    assert any("Copy to my workspace will make you a new one" in w.value for w in viewer.warning)
    store.remove_run(ws, 1)
    store.remove_run(ws, 2)                                     # both, in another tab
    owner.button(key="share-2").click().run()
    assert not owner.exception and any("no longer in this workspace" in w.value for w in owner.warning)
    viewer.button(key="copy-shared").click().run()
    assert not viewer.exception and any("removed by its owner" in w.value for w in viewer.warning)
    visitor = viewer.session_state.visitor
    assert visitor.shared is None and visitor.ws is None                  # nothing kept: no workspace
    assert not viewer.session_state.visitor.run_list


def test_a_run_let_go_at_the_cap_is_still_said_when_the_training_has_ended(mnist_root, monkeypatch):
    from playground.store import MAX_RUNS
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = stored_runs(MAX_RUNS)
    at = visit({"ws": ws, "epochs": "1"})
    press(at)                                                   # Train, then the redraw when it ended
    assert any("Run #1 was let go" in i.value for i in at.info)
    runs = at.session_state.visitor.run_list
    assert [r.number for r in runs][:2] == [2, 3] and len(runs) == MAX_RUNS


def test_an_unreadable_keep_days_setting_is_a_message_and_the_default(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_KEEP_DAYS", "abc")
    st.cache_resource.clear()
    try:
        at = visit({"ws": "A" * 22})
        said = [e for e in at.error if "MNIST_KEEP_DAYS must be a whole number" in e.value and "kept 30 days" in e.value]
        assert len(said) == 1                                   # once, not wherever the cached store is used
        assert any("unseen for 30 days" in w.value for w in at.warning) and at.session_state.visitor.ws is None
    finally:
        st.cache_resource.clear()


def test_a_link_asking_for_hours_of_training_cannot_train(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    heavy = {"model": "cnn", "width": "64", "batch_size": "32", "epochs": "30", "augment": "1"}
    at = visit(heavy)
    assert at.button(key="train").disabled and at.button(key="sweep").disabled
    assert any("Not on this server" in w.value and "over the limit" in w.value for w in at.sidebar.warning)
    at.sidebar.slider(key="epochs").set_value(1).run()         # what the message suggests: it fits
    assert not at.button(key="train").disabled
    assert any("This training: about" in c.value for c in at.sidebar.caption)
    monkeypatch.setenv("MNIST_MAX_TRAIN_SECONDS", "0")          # the host lifts the limit
    st.cache_resource.clear()
    try:
        assert not visit(heavy).button(key="train").disabled
    finally:
        st.cache_resource.clear()


# ------------------------------------------------------------------ the pages (dashboard.navigation)

def test_the_settings_and_the_workspace_carry_over_between_pages(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    _, ws = stored_runs(1)
    app = visit({"ws": ws, "lr": "0.5"})
    app.sidebar.slider(key="epochs").set_value(3).run()
    for page in (INSIDE, HANDWRITING, RUNS):
        app.query_params.clear()                      # a change of page in the browser clears the query
        app.switch_page(page).run()
        assert not app.exception and dict(app.query_params) == {"lr": "0.5", "epochs": "3", "ws": ws}, page
    app.switch_page(TRAIN).run()
    assert app.sidebar.select_slider(key="lr").value == 0.5 and app.sidebar.slider(key="epochs").value == 3


def show_kept_settings():
    import streamlit as st

    from dashboard import navigation
    from dashboard.settings import tutorial_settings
    if "kept_settings" not in st.session_state:
        st.session_state.update(tutorial_settings(), lr=0.5)
    navigation.keep_settings()


def test_settings_dropped_by_a_change_of_page_are_put_back():
    at = AppTest.from_function(show_kept_settings, default_timeout=30)
    at.run()
    for key in KEYS:                    # what Streamlit does to the sidebar's widgets on a change of page
        del at.session_state[key]
    at.run()
    assert not at.exception and at.session_state.lr == 0.5 and at.session_state.model == "linear"


def test_a_shared_runs_viewer_keeps_its_link_on_every_page_and_has_no_runs_page(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    store, ws = stored_runs(1)
    token = store.share(ws, 1)
    viewer = visit({"run": token})
    viewer.query_params.clear()
    viewer.switch_page(HANDWRITING).run()
    assert not viewer.exception and dict(viewer.query_params) == {"run": token}
    assert [s.value for s in viewer.subheader] == ["Your own handwriting"]   # photos; teaching needs a workspace
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        viewer.switch_page(RUNS)


def test_the_digit_drawn_on_the_card_is_looked_inside_on_its_own_page(mnist_root, monkeypatch, drawn_digit):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    at = visit({})
    assert any(c.value.startswith("predicted digit") for c in at.caption)
    shown = " ".join(m.value for m in at.markdown)
    titles = [f["layout"].get("title", {}).get("text", "") for f in figures(at)]
    assert "Attribution" not in shown and not any("map" in t for t in titles)  # a stroke: its prediction only
    at.switch_page(INSIDE).run()
    assert not at.exception
    assert at.radio(key="inside_source").value == "your drawing"
    texts = " ".join(m.value for m in at.markdown)
    assert "Feature maps." in texts and "Attribution" in texts   # the shipped CNN, for the drawn stroke
