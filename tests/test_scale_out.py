"""The page on Ray: a server's own local Ray, and several servers sharing one cluster.

Without ``RAY_ADDRESS`` a server starts a local Ray of its own, which ends
with it. With one: a real cluster (`ray start --head --block`), two
`streamlit run` servers pointed at it (`MNIST_BACKEND=ray`, `RAY_ADDRESS`),
a browser page on each trains; each page trained on a Ray worker and sees
only its own runs.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_browser import CHROMIUM, browser, free_port, start_server  # noqa: F401 (fixture)

pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed")


# Everything on the loopback address, with a token of its own (Ray authenticates its clients).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}


@pytest.fixture(scope="module")
def cluster(mnist_root):
    port = free_port()
    ray = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    proc = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        env={**os.environ, **RAY_ENV, "MNIST_DATA_DIR": str(mnist_root)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    address = f"127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        check = subprocess.run([ray, "status", f"--address={address}"], capture_output=True, text=True,
                               env={**os.environ, **RAY_ENV})
        if check.returncode == 0:
            break
        if proc.poll() is not None:
            pytest.fail(f"ray start failed: {proc.stderr.read()[-2000:]}")
        time.sleep(1)
    else:
        stop(proc)
        pytest.fail("the Ray cluster did not come up within 90 s")
    yield address
    stop(proc)


def stop(proc) -> None:
    """The cluster's processes share the session `ray start` made: end them all, as Ctrl+C would."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (a local Ray's, for a server that started one)."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += kids - found
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_without_ray_address_the_page_trains_on_a_local_ray_that_ends_with_the_server(
        browser, mnist_root, monkeypatch):  # noqa: F811
    from playwright.sync_api import expect
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    url, proc = start_server(mnist_root, {"MNIST_BACKEND": "ray"})
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(f"{url}/?epochs=2")
        page.get_by_role("button", name="Train", exact=True).click()   # the first Train starts the local Ray
        expect(page.get_by_text("Ray node").first).to_be_visible(timeout=120_000)
        page.get_by_text("Classified by run #1 ").wait_for(timeout=120_000)
        ray_processes = descendants(proc.pid)
        assert ray_processes
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    deadline = time.time() + 30
    while any(alive(p) for p in ray_processes) and time.time() < deadline:
        time.sleep(0.5)
    left = [p for p in ray_processes if alive(p)]
    assert not left, f"the local Ray outlived its server: {left}"


def test_two_servers_train_on_one_ray_cluster(cluster, browser, mnist_root):  # noqa: F811
    from playwright.sync_api import expect
    env = {**RAY_ENV, "MNIST_BACKEND": "ray", "RAY_ADDRESS": cluster}
    servers = [start_server(mnist_root, env) for _ in range(2)]
    try:
        pages = []
        for (url, _), seed in zip(servers, (1, 2)):
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(f"{url}/?model=mlp&epochs=3&seed={seed}")
            page.get_by_role("button", name="Train", exact=True).click()
            pages.append(page)
        for page in pages:
            expect(page.get_by_text("Ray node").first).to_be_visible(timeout=180_000)   # trained by a Ray worker
        for page in pages:
            value = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator(
                "[data-testid=stMetricValue]")
            value.wait_for(timeout=180_000)
            assert float(value.inner_text().rstrip("%")) > 96
            page.get_by_text("Share, download or remove a run").click()
            expect(page.locator("[class*=st-key-remove-]")).to_have_count(1)            # its own run only
            page.close()
    finally:
        for _, proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
