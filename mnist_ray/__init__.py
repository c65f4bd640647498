"""The Ray job backend: trainings run as Ray tasks on a cluster's workers, CPU or GPU.

Optional: ``pip install -r requirements-ray.txt``. Chosen with ``MNIST_BACKEND=ray``
(the page) or ``--backend ray`` (the CLI); ``mnist_core`` finds it by name and
never imports Ray itself.

- Each training is a Ray *generator task* asking for one GPU when its device is
  CUDA (or ``auto`` on a cluster with GPUs), else one CPU (both configurable).
  Its epoch reports and batch progress stream back as the task yields them.
- Each worker process keeps MNIST in memory after its first training
  (:func:`mnist_core.jobs.shared_data`); Ray reuses worker processes.
- A small named actor, the *job board*, shared by every server of one demo,
  carries Stop to the worker (within a batch) and tells each queued training
  how many were submitted before it and have not started.
- A worker that dies mid-training ends its run as ``failed`` with a message
  (tasks are never retried: a half-trained run is not silently restarted).

``RAY_ADDRESS`` (Ray's own variable) names the cluster; without it a local
Ray starts on this machine, its processes children of this one (they end with it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

if urlparse("//" + os.environ.get("RAY_ADDRESS", "")).hostname in (None, "localhost", "127.0.0.1"):
    # A local Ray, or a cluster on this machine's loopback address: stay on loopback (Ray would otherwise
    # put its own processes, and reach the head, on the machine's network address).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

# Ray's driver ends its whole process when the cluster's head (its GCS) stays unreachable this long; for
# a web server that would end every visitor's page. The backend gives up on a silent head far sooner
# (HEAD_LOST_SECONDS) and shuts its driver down, so the process lives on.
os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "60")

import ray  # noqa: E402  (after the settings above, which Ray reads on import and init)

import mnist_core
from mnist_core import TrainConfig
from mnist_core.jobs import DataSpec, Job, JobResult, run_training, shared_data, worker_name
from mnist_core.train import resolve_device

log = logging.getLogger(__name__)

NAMESPACE = "mnist_playground"
BOARD_NAME = "mnist-job-board"
CONNECT_TIMEOUT_ENV = "MNIST_RAY_CONNECT_TIMEOUT"
BATCH_EVERY_SECONDS = 0.25  # batch progress is sent at most this often
HEAD_LOST_SECONDS = 5.0     # a head that does not answer for this long is lost: its runs fail, submits say so
CALL_TIMEOUT_SECONDS = 10.0  # the longest a submit waits for the cluster's job board


class RayUnavailable(ValueError):
    """Ray cannot be reached or started; the message says what to do."""


@ray.remote(num_cpus=0)
class JobBoard:
    """Stop requests and queue order, shared by every server that submits to the cluster."""

    def __init__(self):
        self._count = 0
        self._queued: dict[str, int] = {}      # job id -> submission order, until it starts
        self._stops: dict[str, asyncio.Event] = {}
        self._ended: dict[str, asyncio.Event] = {}

    def _events(self, job_id):
        return (self._stops.setdefault(job_id, asyncio.Event()), self._ended.setdefault(job_id, asyncio.Event()))

    async def submitted(self, job_id: str) -> None:
        self._count += 1
        self._queued[job_id] = self._count
        self._events(job_id)

    async def started(self, job_id: str) -> None:
        self._queued.pop(job_id, None)

    async def ahead(self, job_ids: list[str]) -> dict[str, int]:
        """For each queued job: trainings submitted before it that have not started."""
        order = sorted(self._queued.values())
        return {j: sum(1 for o in order if o < self._queued[j]) for j in job_ids if j in self._queued}

    async def stop(self, job_id: str) -> None:
        self._events(job_id)[0].set()
        self._queued.pop(job_id, None)

    async def stop_requested(self, job_id: str) -> bool:
        return self._events(job_id)[0].is_set()

    async def wait_stop(self, job_id: str) -> bool:
        """Returns True when the job is asked to stop, False when it ends first."""
        stop, ended = self._events(job_id)
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ended.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        return stop.is_set()

    async def ended(self, job_id: str) -> None:
        self._queued.pop(job_id, None)
        self._events(job_id)[1].set()
        self._stops.pop(job_id, None)
        self._ended.pop(job_id, None)


@ray.remote(max_retries=0)
def train_task(job_id: str, config: dict, spec: DataSpec, board, start=None):
    """A training on a Ray worker. Yields ("running", device, worker), ("batch", done, total),
    ("epoch", EpochReport)…, then ("result", JobResult)."""
    ray.get(board.started.remote(job_id))
    stop = threading.Event()
    if ray.get(board.stop_requested.remote(job_id)):
        stop.set()

    def watch_stop():
        try:
            if ray.get(board.wait_stop.remote(job_id)):
                stop.set()
        except Exception:  # the board is gone: Stop can no longer arrive, training goes on
            pass

    threading.Thread(target=watch_stop, daemon=True).start()
    events: queue.Queue = queue.Queue()
    worker = f"{worker_name()}, Ray node {ray.get_runtime_context().get_node_id()[:8]}"

    def work():
        try:
            cfg = TrainConfig.from_dict(config)
            device = str(resolve_device(cfg.device))
            events.put(("running", device, worker))
            data = shared_data(spec, device)
            last = 0.0

            def on_batch(done, total):
                nonlocal last
                now = time.monotonic()
                if now - last >= BATCH_EVERY_SECONDS or done == total:
                    last = now
                    events.put(("batch", done, total))

            result = run_training(cfg, data, should_stop=stop.is_set, on_epoch=lambda e: events.put(("epoch", e)),
                                  on_batch=on_batch, worker=worker, start=start)
        except Exception as exc:  # bad data, bad settings: the run fails with the reason
            result = JobResult("failed", worker=worker, message=str(exc))
        events.put(("result", result))

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            item = events.get()
            yield item
            if item[0] == "result":
                return
    finally:
        board.ended.remote(job_id)


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast, with a message, when a named cluster does not answer (Ray itself may wait minutes)."""
    if address in ("auto", "local") or address.startswith("ray://"):
        target = urlparse(address) if address.startswith("ray://") else None
        if target is None:
            return
        host, port = target.hostname, target.port or 10001
    else:
        host, _, port = address.rpartition(":")
        port = int(port or 6379)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"Ray is not reachable at {address} ({exc.strerror or exc}). Start the cluster "
                             "(ray start --head) or unset RAY_ADDRESS to train on this machine.") from None


def _init_from_a_lasting_thread(**options) -> threading.Event:
    """``ray.init`` from a thread that lives as long as the connection; set the event returned to let it end
    (after ``ray.shutdown``).

    A local Ray's own processes (its GCS and raylet) are killed when the *thread* that started them ends:
    Ray ties them to their parent with Linux's ``PR_SET_PDEATHSIG``, which follows the creating thread, not
    the process. Started from a short-lived thread — a Streamlit script run — the local Ray died when that
    run ended, and the trainings submitted afterwards were taken but never ran.
    """
    started, release, failure = threading.Event(), threading.Event(), []

    def keep():
        try:
            ray.init(**options)
        except Exception as exc:
            failure.append(exc)
        started.set()
        if not failure:
            release.wait()  # at the latest until the process ends; Ray's own exit handler shuts it down

    threading.Thread(target=keep, name="mnist-ray-driver", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]
    return release


@dataclass
class _Connection:
    """One connection to a cluster: its head's address (GCS), the job board, the thread holding the driver."""

    head: str | None
    board: object
    release: threading.Event | None

    def answers(self, timeout: float = 1.0) -> bool:
        try:
            if self.head:
                _check_reachable(self.head, timeout)
            return True
        except RayUnavailable:
            return False


class RayBackend:
    """Trainings as Ray tasks; one backend per server process, any number of servers per cluster.

    A cluster whose head stops answering (for ``HEAD_LOST_SECONDS``) is *lost*: its runs end as failed with
    a message, Ray's driver in this process is shut down (Ray would otherwise end the process after
    ``RAY_gcs_rpc_server_reconnect_timeout_s``, 60 s), and each submit tries the cluster again: a
    :class:`RayUnavailable` within ``MNIST_RAY_CONNECT_TIMEOUT`` seconds while it is away (a new local Ray
    when there is no ``RAY_ADDRESS``), trainings again once it is back.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_training: float = 1,
                 gpus_per_training: float = 1, connect_timeout: float | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.timeout = connect_timeout or float(os.environ.get(CONNECT_TIMEOUT_ENV, "10"))
        self.num_cpus = num_cpus
        self.cpus_per_training, self.gpus_per_training = cpus_per_training, gpus_per_training
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._connect()
        threading.Thread(target=self._watch, name="mnist-ray-watch", daemon=True).start()

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "this machine's local Ray"

    def _connect(self) -> _Connection:
        """The connection, made (or a local Ray started) when there is none; RayUnavailable when it cannot be."""
        with self._lock:
            if self._connection is not None:
                return self._connection
            if self.address:
                _check_reachable(self.address, self.timeout)
            release = None
            if not ray.is_initialized():
                try:
                    # "local": always a new Ray of our own, never a stale cluster recorded on this machine
                    release = _init_from_a_lasting_thread(
                        address=self.address or "local", num_cpus=None if self.address else self.num_cpus,
                        namespace=NAMESPACE, include_dashboard=False, log_to_driver=False, configure_logging=False,
                        runtime_env={"py_modules": [mnist_core, __import__(__name__)]} if self.address else None)
                except Exception as exc:
                    raise RayUnavailable(f"Ray could not be started or reached: {exc}") from None
            try:
                head = ray.get_runtime_context().gcs_address
            except Exception:  # a Ray Client connection (ray://) names no head here: it is not watched
                head = None
            board = JobBoard.options(name=BOARD_NAME, get_if_exists=True, lifetime="detached").remote()
            self._connection = _Connection(head, board, release)
            return self._connection

    def _lose(self, connection: _Connection) -> None:
        """The cluster stopped answering: fail its runs, shut Ray's driver down (never past a bounded wait)."""
        with self._lock:
            if self._connection is not connection:
                return
            self._connection = None
            jobs = list(self._jobs.values())
        log.warning("%s stopped answering; its %d run(s) failed", self.where, len(jobs))
        for job in jobs:
            self._fail(job, self._lost_message())

        def shut_down():
            try:
                if ray.is_initialized() and ray.get_runtime_context().gcs_address == connection.head:
                    ray.shutdown()  # this connection's driver only, never a newer one
            except Exception as exc:
                log.warning("Ray's shutdown after losing the cluster: %s", exc)
            if connection.release is not None:
                connection.release.set()

        ender = threading.Thread(target=shut_down, name="mnist-ray-shutdown", daemon=True)
        ender.start()
        ender.join(CALL_TIMEOUT_SECONDS)

    def _lost_message(self) -> str:
        again = ("train again once it is back (ray start --head)" if self.address
                 else "train again: a new local Ray starts")
        return f"{self.where} stopped answering, so this run was lost; {again}"

    @staticmethod
    def _fail(job: Job, message: str) -> None:
        snap = job.snapshot()
        job._finish(JobResult("failed", device=snap.device, worker=snap.worker, message=message))

    def describe(self) -> str:
        self._connect()
        res = ray.cluster_resources()
        return f"Ray cluster at {self.address or 'local'}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"

    def _resources(self, config: TrainConfig) -> dict:
        device = config.device
        wants_gpu = device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        return {"num_gpus": self.gpus_per_training, "num_cpus": 0} if wants_gpu else {"num_cpus": self.cpus_per_training}

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start=None) -> Job:
        """Queue a training (a fine-tuning with ``start``) on the cluster; ValueError at once for settings
        that cannot train anywhere, RayUnavailable (a ValueError) within the connect timeout when the
        cluster does not answer."""
        config.validate()
        connection = self._connect()
        if not connection.answers(self.timeout):   # lost since the last look: never hand Ray a call that hangs
            self._lose(connection)
            connection = self._connect()           # a new local Ray, or RayUnavailable for a named cluster
        job = Job(config, data, start)
        try:
            ray.get(connection.board.submitted.remote(job.id), timeout=CALL_TIMEOUT_SECONDS)
            stream = train_task.options(**self._resources(config), name=f"mnist-train-{job.id[:8]}").remote(
                job.id, config.to_dict(), data, connection.board, start)
        except Exception as exc:
            raise RayUnavailable(f"{self.where} did not take the training ({exc.__class__.__name__}); "
                                 "try again in a moment") from None
        job._on_stop.append(lambda: self._send_stop(connection, job.id))
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(target=self._follow, args=(job, stream, connection), name=f"mnist-ray-{job.id[:8]}",
                         daemon=True).start()
        return job

    def _send_stop(self, connection: _Connection, job_id: str) -> None:
        if self._connection is connection:
            try:
                connection.board.stop.remote(job_id)
            except Exception:  # the cluster went away meanwhile: its runs fail with a message anyway
                pass

    def queued(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status == "queued")

    def _follow(self, job: Job, stream, connection: _Connection) -> None:
        try:
            for ref in stream:
                kind, *payload = ray.get(ref)
                if kind == "running":
                    job._update(status="running", device=payload[0], worker=payload[1], queue_position=None,
                                note="loading the data (once per worker)…")
                elif kind == "batch":
                    job._update(batches=tuple(payload), note="training")
                elif kind == "epoch":
                    job._add_epoch(payload[0])
                else:
                    job._finish(payload[0])
        except Exception as exc:  # the worker, or the whole cluster, went away mid-training
            log.warning("Ray training %s lost: %s", job.id, exc)
            self._fail(job, self._lost_message() if not connection.answers() else
                       f"the worker training it was lost ({exc.__class__.__name__}); train again")
        finally:
            if not job.done:
                self._fail(job, "the worker ended without a result; train again")
            with self._lock:
                self._jobs.pop(job.id, None)

    def _watch(self) -> None:
        """Each second: is the head answering (lost after HEAD_LOST_SECONDS of silence)? Then the queue."""
        silent_since = None
        while True:
            time.sleep(1.0)
            connection = self._connection
            if connection is None:
                continue
            if not connection.answers():
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since >= HEAD_LOST_SECONDS:
                    self._lose(connection)
                    silent_since = None
                continue
            silent_since = None
            self._update_queue(connection)

    def _update_queue(self, connection: _Connection) -> None:
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.status == "queued"]
        if not waiting:
            return
        try:
            ahead = ray.get(connection.board.ahead.remote([j.id for j in waiting]), timeout=CALL_TIMEOUT_SECONDS)
        except Exception:
            return
        for job in waiting:
            if job.id in ahead:
                job._update(queue_position=ahead[job.id])

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()


def start_head(port: int, num_cpus: int = 2, env: dict | None = None, timeout: float = 90) -> subprocess.Popen:
    """A one-machine cluster for trying things out: ``ray start --head --block`` on the loopback address in a
    session of its own (``stop_head`` ends all its processes), returned once it answers at
    ``127.0.0.1:port``; RayUnavailable (with Ray's last words) when it does not come up."""
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
            raise RayUnavailable(f"ray start failed: {head.stderr.read()[-2000:]}")
        time.sleep(1)
    stop_head(head)
    raise RayUnavailable(f"the Ray head did not come up within {timeout:g} s")


def stop_head(head: subprocess.Popen) -> None:
    """End a ``start_head`` cluster: all its processes share the session it made (Ctrl+C, then a kill)."""
    if head.poll() is None:
        os.killpg(head.pid, signal.SIGINT)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
