"""A one-machine Ray cluster for the tests and benchmarks: ``ray start --head --block`` on the loopback
address, in a session of its own so that :func:`stop_head` ends every process it started."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

# Everything on the loopback address, with a token of its own (recent Ray authenticates its clients):
# the cluster's processes and every client of it (a test's driver, a page server) need these.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}


def start_cluster(port: int | None = None, env: dict | None = None) -> tuple[str, subprocess.Popen]:
    """A two-CPU cluster with ``RAY_ENV`` (and ``env``) on ``port`` (default: a free one): its address and
    its head's process."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    return f"127.0.0.1:{port}", start_head(port, num_cpus=2, env={**RAY_ENV, **(env or {})})


def start_head(port: int, num_cpus: int = 2, env: dict | None = None, timeout: float = 90) -> subprocess.Popen:
    """The head's ``ray start`` process, returned once the cluster answers at ``127.0.0.1:port``;
    RuntimeError (with Ray's last words) when it does not come up."""
    ray_cli = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **(env or {})}
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run([ray_cli, "status", f"--address=127.0.0.1:{port}"], capture_output=True,
                          env=env).returncode == 0:
            return head
        if head.poll() is not None:
            raise RuntimeError(f"ray start failed: {head.stderr.read()[-2000:]}")
        time.sleep(1)
    stop_head(head)
    raise RuntimeError(f"the Ray head did not come up within {timeout:g} s")


def stop_head(head: subprocess.Popen) -> None:
    """End a ``start_head`` cluster: all its processes share the session it made (Ctrl+C, then a kill)."""
    if head.poll() is None:
        os.killpg(head.pid, signal.SIGINT)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
