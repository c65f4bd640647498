"""What only the page shows of the run store's promises (the rest is tested without a page: test_workspace.py)."""

import sqlalchemy as sa

from helpers import visit


def workspace_rows() -> int:
    from playground.schema import workspaces
    from playground.store import RunStore
    with RunStore().engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar()


def test_a_first_visit_gets_its_workspace_and_address_when_it_trains(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    before = workspace_rows()
    at = visit({"epochs": "1"}, timeout=180)
    at.run()                                                        # a rerun is no visit either
    assert at.session_state.visitor.ws is None and "ws" not in at.query_params and workspace_rows() == before
    at.button(key="train").click().run()
    run = at.session_state.visitor.run_list[0]
    assert run.job is None or run.job.wait(180)
    at.run()
    ws = at.session_state.visitor.ws
    assert ws and at.query_params["ws"] == ws and workspace_rows() == before + 1


def test_the_share_page_says_how_long_its_link_works(mnist_root, monkeypatch):
    from playground.store import RunStore
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))
    monkeypatch.setenv("MNIST_KEEP_DAYS", "12")
    store = RunStore()
    run, _ = store.add_run(None, {"epochs": 1})
    viewer = visit({"run": store.share(run.workspace, 1)}, timeout=180)
    assert any("works while its owner's workspace is kept: 12 days after its last visit" in c.value
               for c in viewer.sidebar.caption)
