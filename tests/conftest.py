"""Shared fixtures (plain helpers are in helpers.py). Real MNIST: see helpers.real_mnist."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from helpers import CHROMIUM, CHROMIUM_ARGS, real_mnist

# pytest.ini's two workers share two cores: one torch thread each, in the workers and in the CLI runs and
# servers they start, so that no thread spins waiting for a core the other worker holds.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") != "1":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# Every Ray of the tests is on the loopback address; Ray reads this setting when it is imported (by a Ray
# test module, at collection), so it is in place before.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session", autouse=True)
def _private_folders(tmp_path_factory):
    """Keep the verified-files cache and the run store of test runs out of the user's folders."""
    names = ("MNIST_CACHE_DIR", "MNIST_STATE_DIR")
    old = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    yield
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def _installed_components_scanned_once():
    """Streamlit's server looks for installed components once, when it starts; ``AppTest`` looks again for
    every new page (0.4 s of reading the metadata of every installed package, each time): once per test
    process here too, as a server does. The packages do not change during a test run."""
    import functools

    from streamlit.components.v2 import manifest_scanner
    scan = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(scan)
    yield
    manifest_scanner.scan_component_manifests = scan


@pytest.fixture(scope="session")
def _real_mnist():
    return real_mnist()


@pytest.fixture(scope="session")
def mnist_root(_real_mnist) -> Path:
    return _real_mnist[0]


@pytest.fixture(scope="session")
def mnist(_real_mnist):
    return _real_mnist[1]


@pytest.fixture(scope="session")
def tutorial_result(mnist):
    """The tutorial's run, once per test session."""
    from mnist_core import TrainConfig, train
    return train(TrainConfig(device="cpu"), mnist)


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt goes to a closed local port and fails at once."""
    import torchvision
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])


@pytest.fixture
def drawn_digit(monkeypatch):
    """A canvas that always holds a drawn stroke (the real one is a browser component)."""
    import sys
    from types import SimpleNamespace

    import numpy as np
    image = np.zeros((280, 280, 4), np.uint8)
    image[60:220, 130:150] = 255
    canvas = SimpleNamespace(st_canvas=lambda **_: SimpleNamespace(image_data=image))
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", canvas)


@pytest.fixture
def no_mnist(tmp_path, monkeypatch, offline):
    """A server without MNIST that cannot download it: an empty data folder, and the page's cached data
    forgotten before and after (st.cache_resource outlives a test)."""
    import streamlit as st
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright: one per test module."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster (Debian's postgresql) on a free local port: its base URL, or a skip
    saying why it cannot start here."""
    import glob
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bindir = Path(bins[-1]).parent
    as_user = []
    base = Path(tempfile.mkdtemp(prefix="mnist-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("PostgreSQL cannot start as root without a postgres user")
        os.chown(base, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = base / "data"
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    start = init.returncode == 0 and run(
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start")
    if not start or start.returncode != 0:
        why = (init.stderr if init.returncode else start.stderr).strip().splitlines()
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start here: {why[-1] if why else 'no reason given'}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster(mnist_root):
    """One `ray start --head` cluster (two CPUs, loopback) for every Ray test that is not about starting or
    losing one: its address. Its clients (this process, the servers and CLIs it starts) need no token: Ray
    reads its authentication mode on import, before a token could be given to this process. Tokens are
    tested on the clusters that tests start for themselves (test_scale_out.py)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
    from ray_cluster import start_cluster, stop_head
    no_token = {"RAY_AUTH_MODE": "disabled"}
    try:
        address, head = start_cluster(env={**no_token, "MNIST_DATA_DIR": str(mnist_root)})  # workers read the data
    except RuntimeError as exc:
        pytest.fail(str(exc))
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ.update(no_token)
    yield address
    stop_head(head)
    if old is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = old


@pytest.fixture(scope="session")
def ray_backend(ray_cluster):
    """A RayBackend of this process on ``ray_cluster``."""
    from mnist_core.jobs import get_backend
    backend = get_backend("ray", address=ray_cluster)
    yield backend
    backend.close()


@pytest.fixture
def held(monkeypatch):
    """The thread backend's worker body replaced by one that holds its slot until released (tests of the queue)."""
    from helpers import HeldRuns
    from mnist_core.jobs import thread as thread_backend
    runs = HeldRuns(thread_backend.run_job)
    checked = thread_backend.ThreadBackend._checked_job

    def checked_and_noted(backend, *args, **kwargs):
        job = checked(backend, *args, **kwargs)
        runs.submitted(job)
        return job
    monkeypatch.setattr(thread_backend, "run_job", runs)
    monkeypatch.setattr(thread_backend.ThreadBackend, "_checked_job", checked_and_noted)
    yield runs
    runs.end()


def pytest_collection_finish(session):
    """What is imported and collected by now lives to the end of the run: out of the garbage collector's
    walks (gc.freeze), which otherwise go through torch's, Streamlit's and Ray's objects at every full
    collection (about 3 s of each worker's run, measured) and five times more at its end."""
    gc.freeze()


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist's own, which reads the groups into the tests' ids
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (pytest.ini runs two workers): the tests of one Ray cluster, and those of one
    PostgreSQL cluster, each go to one worker, so each cluster is started once per run, not once per worker;
    the tests that start Ray clusters of their own go to one worker too (two at once would crowd two cores)."""
    for item in items:
        if item.get_closest_marker("ray") and item.get_closest_marker("e2e"):
            # the scale-out tests start clusters of their own: beside the session cluster's, not behind them
            item.add_marker(pytest.mark.xdist_group("ray-own-clusters"))
        elif item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif any(isinstance(v, str) and v == "postgresql"
                 for v in getattr(getattr(item, "callspec", None), "params", {}).values()):
            item.add_marker(pytest.mark.xdist_group("postgresql"))  # the run store's tests, against PostgreSQL

