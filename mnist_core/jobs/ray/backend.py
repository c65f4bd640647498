"""The Ray backend itself: the connection to a cluster (or a local Ray of this process), submitting
trainings as Ray tasks (``task.py``) and following their streams, and a watcher that notices a lost head."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import ray

import mnist_core

from ...budget import WorkLimits
from ...train import StartFrom, TrainConfig
from ..job import QUEUED, DataSpec, Job
from .board import BOARD_NAME, NAMESPACE, JobBoard
from .task import train_task

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_ENV = "MNIST_RAY_CONNECT_TIMEOUT"
HEAD_LOST_SECONDS = 5.0     # a head that does not answer for this long is lost: its runs fail, submits say so
CALL_TIMEOUT_SECONDS = 10.0  # the longest a submit waits for the cluster's job board


class RayUnavailable(ValueError):
    """Ray cannot be reached or started; the message says what to do."""


def parse_address(address: str) -> tuple[str, int] | None:
    """The (host, port) a cluster's address names (None for ``auto`` and ``local``: no one to ask);
    RayUnavailable saying what an address must look like for anything else."""
    if address in ("auto", "local"):
        return None
    try:
        if address.startswith("ray://"):
            target = urlparse(address)
            host, port = target.hostname, target.port or 10001
        else:
            host, _, port_text = address.rpartition(":")
            if port_text and not port_text.isdigit():  # int() would take " 5" or "+5"
                raise ValueError(port_text)
            host, port = host.removeprefix("[").removesuffix("]"), int(port_text or 6379)
    except ValueError:
        host, port = None, 0
    if not host or not 0 < port < 65536:
        raise RayUnavailable(f"RAY_ADDRESS must be host:port or ray://host:port (got {address!r})")
    return host, port


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast, with a message, when a named cluster does not answer (Ray itself may wait minutes)."""
    target = parse_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
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

    ``limits``: the most time and memory one training may be estimated to take (default: this server's,
    ``WorkLimits.from_env()``, read at each submit).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_training: float = 1,
                 gpus_per_training: float = 1, connect_timeout: float | None = None,
                 limits: WorkLimits | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.timeout = connect_timeout or float(os.environ.get(CONNECT_TIMEOUT_ENV, "10"))
        self.num_cpus = num_cpus
        self.cpus_per_training, self.gpus_per_training = cpus_per_training, gpus_per_training
        self.limits = limits
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
                        runtime_env={"py_modules": [mnist_core]} if self.address else None)
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
            job.fail(self._lost_message())

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

    def describe(self) -> str:
        self._connect()
        res = ray.cluster_resources()
        return f"Ray cluster at {self.address or 'local'}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"

    def _resources(self, config: TrainConfig) -> dict:
        device = config.device
        wants_gpu = device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
        return {"num_gpus": self.gpus_per_training, "num_cpus": 0} if wants_gpu else {"num_cpus": self.cpus_per_training}

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None,
               owner: str | None = None, group: str | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``) on the cluster; ValueError at once for settings
        that cannot train anywhere or are over the limits, RayUnavailable (a ValueError) within the connect
        timeout when the cluster does not answer. ``owner`` and ``group`` are taken for the Backend protocol's
        sake: the cluster's queue has no per-owner limit or turns yet (the thread backend's)."""
        config.validate()
        (self.limits or WorkLimits.from_env()).check(config)
        connection = self._connect()
        if not connection.answers(self.timeout):   # lost since the last look: never hand Ray a call that hangs
            self._lose(connection)
            connection = self._connect()           # a new local Ray, or RayUnavailable for a named cluster
        job = Job(config, data, start)
        try:
            ray.get(connection.board.submitted.remote(job.id), timeout=CALL_TIMEOUT_SECONDS)
            stream = train_task.options(**self._resources(config), name=f"mnist-train-{job.id[:8]}").remote(
                job.id, config, data, connection.board, start)
        except Exception as exc:
            raise RayUnavailable(f"{self.where} did not take the training ({exc.__class__.__name__}); "
                                 "try again in a moment") from None
        job.on_stop(lambda: self._send_stop(connection, job.id))
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
            return sum(1 for j in self._jobs.values() if j.status == QUEUED)

    def _follow(self, job: Job, stream, connection: _Connection) -> None:
        calls = {"mark_running": job.mark_running, "set_note": job.set_note, "set_progress": job.set_progress,
                 "add_epoch": job.add_epoch, "result": job.finish}   # what a task's stream may ask of the job
        try:
            for ref in stream:
                name, *arguments = ray.get(ref)
                calls[name](*arguments)
        except Exception as exc:  # the worker, or the whole cluster, went away mid-training
            log.warning("Ray training %s lost: %s", job.id, exc)
            job.fail(self._lost_message() if not connection.answers() else
                     f"the worker training it was lost ({exc.__class__.__name__}); train again")
        finally:
            if not job.done:
                job.fail("the worker ended without a result; train again")
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
            waiting = [j for j in self._jobs.values() if j.status == QUEUED]
        if not waiting:
            return
        try:
            ahead = ray.get(connection.board.ahead.remote([j.id for j in waiting]), timeout=CALL_TIMEOUT_SECONDS)
        except Exception:
            return
        for job in waiting:
            if job.id in ahead:
                job.set_queue_position(ahead[job.id])

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()
