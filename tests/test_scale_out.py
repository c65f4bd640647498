"""The page on Ray, and what happens when the Ray it trains on goes away.

Without ``RAY_ADDRESS`` a server starts a local Ray of its own; its head
(the GCS) is killed under it, the server lives on and trains again on a new
one, and no process of either Ray outlives the server. With one: a cluster
of the test's own (`ray start --head`, token authentication), two `streamlit
run` servers pointed at it (`MNIST_BACKEND=ray`, `RAY_ADDRESS`), a browser
page on each trains on a Ray worker and sees only its own runs; then the
head is killed under them and under a backend of this process, which all
outlive Ray's own timeout and train again once the head is back.

Servers are launched both ways a host may: as a child of a live process, and
detached (`( exec streamlit run … ) &`: the shell that started it is gone).
Ray's own timeout (``RAY_gcs_rpc_server_reconnect_timeout_s``, after which its
driver ends its whole process; 60 s by default) is lowered to keep them short.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from mnist_core import TrainConfig  # noqa: E402
from mnist_core.jobs.ray.session import session_processes  # noqa: E402

from helpers import CHROMIUM, ROOT, free_port, go_to, start_server  # noqa: E402
from ray_cluster import RAY_ENV, start_cluster, start_head, stop_head  # noqa: E402

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")
pytestmark = [pytest.mark.ray, pytest.mark.e2e]


def own_cluster(mnist_root):
    """A cluster of the test's own, to lose: (address, the head's process)."""
    try:
        return start_cluster(env={"MNIST_DATA_DIR": str(mnist_root)})
    except RuntimeError as exc:
        pytest.fail(str(exc))


RAY_EXIT_SECONDS = 5   # Ray's own GCS timeout for the drivers these tests start (its default: 60)


def launch(mnist_root, env: dict, detached: bool) -> tuple[str, int]:
    """`streamlit run` with ``env``, a child of this process or detached from it: (its address, its pid)."""
    if not detached:
        url, proc = start_server(mnist_root, env)
        return url, proc.pid
    port = free_port()
    shell = subprocess.run(
        ["bash", "-c", f"( exec {sys.executable} -m streamlit run streamlit_app.py --server.port {port} "
                       "--server.address 127.0.0.1 --server.headless true >/tmp/srv.log 2>&1 </dev/null ) & echo $!"],
        cwd=ROOT, env={**os.environ, "MNIST_DATA_DIR": str(mnist_root), **env}, capture_output=True, text=True)
    url, pid = f"http://127.0.0.1:{port}", int(shell.stdout)
    deadline = time.monotonic() + 60
    while not answers(url):
        assert time.monotonic() < deadline and alive(pid), "the detached server did not start"
        time.sleep(0.3)
    return url, pid


def answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    gone_within(pid, 30)


def gone_within(pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"process {pid} did not end within {seconds} s")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ray_drivers(pid: int) -> set[int]:
    """The Ray driver processes below ``pid`` (each leads the session its local Ray lives in)."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += kids
            found |= kids
    return {p for p in found if b"mnist_core.jobs.ray.driver" in _cmdline(p)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def session_left(session: int) -> list[str]:
    """The live processes of ``session``, by name (a local Ray's: raylet, gcs_server, its agents…)."""
    return [Path(f"/proc/{p}/comm").read_text().strip() for p in session_processes(session) if alive(p)]


def train(page, run: int) -> None:
    """Press Train and wait until run ``run`` has trained on a Ray worker."""
    page.get_by_role("button", name="Train", exact=True).click()
    trained(page, run)


def trained(page, run: int) -> None:
    """Until run ``run`` has trained on a Ray worker."""
    from playwright.sync_api import expect
    try:
        page.get_by_text(f"Classified by run #{run} ").wait_for(timeout=100_000)
    except Exception:
        page.screenshot(path=f"/tmp/fail{run}.png", full_page=True)
        raise
    expect(page.get_by_text("a Ray worker").first).to_be_visible()


@needs_chromium
def test_a_detached_server_outlives_its_local_rays_head_and_no_process_of_its_rays_outlives_it(
        browser, mnist_root, monkeypatch):
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE"):  # no cluster, not even the session's: Ray's own defaults
        monkeypatch.delenv(name, raising=False)
    url, pid = launch(mnist_root, {"MNIST_BACKEND": "ray",
                                   "RAY_gcs_rpc_server_reconnect_timeout_s": str(RAY_EXIT_SECONDS)}, detached=True)
    sessions = set()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(f"{url}/?epochs=1")
        train(page, 1)                                       # the first Train starts the local Ray
        (first,) = ray_drivers(pid)
        sessions.add(first)
        gcs = [p for p in session_processes(first) if Path(f"/proc/{p}/comm").read_text().strip() == "gcs_server"]
        assert gcs, session_left(first)
        killed = time.monotonic()
        os.kill(gcs[0], signal.SIGKILL)
        from mnist_core.jobs.ray import HEAD_LOST_SECONDS
        deadline = killed + HEAD_LOST_SECONDS + 30
        while session_left(first):                           # the backend gave up on it and ended all of it
            assert time.monotonic() < deadline, session_left(first)
            time.sleep(0.5)
        time.sleep(max(0.0, killed + RAY_EXIT_SECONDS + 3 - time.monotonic()))   # past Ray's own timeout
        assert alive(pid) and answers(url)
        train(page, 2)                                       # a new local Ray
        sessions |= ray_drivers(pid)
        assert len(sessions) == 2
        page.close()
    finally:
        stop(pid)
    for session in sessions:
        deadline = time.monotonic() + 30
        while session_left(session) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not session_left(session), f"a local Ray outlived its server: {session_left(session)}"


@needs_chromium
def test_servers_on_one_cluster_train_apart_and_outlive_its_head(browser, mnist_root, monkeypatch):
    from playwright.sync_api import expect

    from mnist_core.jobs.ray import CALL_TIMEOUT_SECONDS, HEAD_LOST_SECONDS, RayBackend, RayUnavailable
    limit = HEAD_LOST_SECONDS + CALL_TIMEOUT_SECONDS       # the backend's stated bound on noticing a lost head
    address, head = own_cluster(mnist_root)
    ray_exit = {"RAY_gcs_rpc_server_reconnect_timeout_s": str(RAY_EXIT_SECONDS)}
    env = {"MNIST_BACKEND": "ray", "RAY_ADDRESS": address, **RAY_ENV, **ray_exit}
    servers, back = [], None
    try:
        servers = [launch(mnist_root, env, detached) for detached in (False, True)]
        pages = []
        for (url, _), seed in zip(servers, (1, 2)):
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(f"{url}/?model=mlp&width=128&epochs=2&seed={seed}")     # 96.5%, 1.2 s of training alone
            page.get_by_role("button", name="Train", exact=True).click(timeout=120_000)   # a first page is slow
            pages.append(page)
        for page in pages:
            value = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator(
                "[data-testid=stMetricValue]")
            value.wait_for(timeout=180_000)
            expect(page.get_by_text("a Ray worker").first).to_be_visible()    # trained by a Ray worker
            assert float(value.inner_text().rstrip("%")) > 95
            go_to(page, "Runs")
            page.get_by_text("Share, download or remove a run").click()
            expect(page.locator("[class*=st-key-run-row-]")).to_have_count(1)   # its own run only

        # A backend of this process too, with a training running when the head goes.
        for name, value in {**RAY_ENV, **ray_exit, "MNIST_DATA_DIR": str(mnist_root)}.items():
            monkeypatch.setenv(name, value)                  # for its driver process
        backend = RayBackend(address=address, connect_timeout=5)
        job = backend.submit(TrainConfig(model="cnn", epochs=20, batch_size=256))
        deadline = time.monotonic() + 120
        while job.status != "running":
            assert time.monotonic() < deadline and not job.done, job.result
            time.sleep(0.05)
        os.killpg(head.pid, signal.SIGKILL)                 # the head node and every process it started
        head.wait(timeout=30)
        lost = time.monotonic()
        assert job.wait(limit + 30)
        assert job.status == "failed" and "stopped answering" in job.result.message
        assert time.monotonic() - lost < limit

        def refused():
            start = time.monotonic()
            with pytest.raises(RayUnavailable, match="not reachable"):
                backend.submit(TrainConfig(epochs=1))
            assert time.monotonic() - start < limit

        refused()                                            # while away
        time.sleep(max(0.0, lost + RAY_EXIT_SECONDS + 3 - time.monotonic()))
        refused()                                            # past Ray's own timeout, which ends its driver
        assert all(alive(pid) and answers(url) for url, pid in servers)

        backend.close()
        back = start_head(int(address.rpartition(":")[2]), env={**RAY_ENV, "MNIST_DATA_DIR": str(mnist_root)})
        for page in pages:                                   # each server trains again, on the head that is back
            go_to(page, "Train")
            page.get_by_role("button", name="Train", exact=True).click()
        for page in pages:
            trained(page, 2)
            page.close()
    finally:
        for _, pid in servers:
            stop(pid)
        for proc in (head, back):
            if proc is not None:
                stop_head(proc)
