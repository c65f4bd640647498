"""The Ray backend itself, the server's side: the fair queue (``..fair``), Ray's driver in a process of its own
(``driver.py``) that submits the trainings as Ray tasks (``task.py``) and streams their reports back, and a
watcher that notices a lost head. The server's process never connects to Ray (nor imports it)."""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlparse

import mnist_core

from ...budget import WorkLimits
from ...train import StartFrom, TrainConfig
from ..fair import FairQueue
from ..job import QUEUED, DataSpec, Job, JobResult
from .session import end_session

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_ENV = "MNIST_RAY_CONNECT_TIMEOUT"
HEAD_LOST_SECONDS = 5.0     # a head that does not answer for this long is lost: its runs fail, submits say so
CALL_TIMEOUT_SECONDS = 10.0  # the longest a submit waits for the cluster's job board
STARTUP_SECONDS = 120.0     # a local Ray's first start on two busy cores takes 10-30 s; a connection less


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



class _Driver:
    """The server's handle on one driver process: the socket to it, its head's address (GCS) and the cluster's
    resources, and the questions waiting for an answer."""

    def __init__(self, process: subprocess.Popen, conn: Connection, head: str | None, resources: dict):
        self.process, self.conn, self.head, self.resources = process, conn, head, resources
        self._send_lock = threading.Lock()
        self._requests = itertools.count()
        self._answers: dict[int, list] = {}
        self._answered = threading.Condition()

    def send(self, *message) -> None:
        with self._send_lock:
            self.conn.send(message)

    def ask(self, question: str, *arguments, timeout: float = CALL_TIMEOUT_SECONDS):
        """The driver's answer (its exception raised here); TimeoutError when none comes within ``timeout``."""
        request = next(self._requests)
        with self._answered:
            self._answers[request] = []
        self.send("ask", request, question, *arguments)
        with self._answered:
            answered = self._answered.wait_for(lambda: self._answers[request], timeout)
            value = self._answers.pop(request)
        if not answered:
            raise TimeoutError(f"the Ray driver did not answer {question!r} within {timeout:g} s")
        if isinstance(value[0], Exception):
            raise value[0]
        return value[0]

    def answer(self, request: int, value) -> None:
        with self._answered:
            if request in self._answers:
                self._answers[request].append(value)
                self._answered.notify_all()

    def answers(self, timeout: float = 1.0) -> bool:
        """Whether the driver lives and its head takes a connection."""
        if self.process.poll() is not None:
            return False
        try:
            if self.head:
                _check_reachable(self.head, timeout)
            return True
        except RayUnavailable:
            return False

    def end(self) -> None:
        """End the driver's session: the driver and every process of a local Ray it started."""
        end_session(self.process.pid)  # the driver leads its session: the session's id is its pid
        self.conn.close()
        self.process.wait()


def start_driver(address: str | None, num_cpus: int | None, timeout: float) -> _Driver:
    """A driver process connected to ``address`` (None: a local Ray of its own), once it is ready;
    RayUnavailable, with Ray's reason, when it is not within ``timeout`` seconds."""
    ours, theirs = socket.socketpair()
    package_root = str(Path(mnist_core.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    process = subprocess.Popen([sys.executable, "-m", "mnist_core.jobs.ray.driver", str(theirs.fileno())],
                               pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                               start_new_session=True)  # its own session: ending it ends a local Ray's every process
    theirs.close()
    conn = Connection(ours.detach())
    driver = _Driver(process, conn, None, {})
    try:
        conn.send({"address": address, "num_cpus": num_cpus, "call_timeout": CALL_TIMEOUT_SECONDS})
        if not conn.poll(timeout):
            raise RayUnavailable(f"Ray did not start or answer within {timeout:g} s")
        kind, *news = conn.recv()
    except (EOFError, OSError):
        kind, news = "failed", ["its driver process ended"]
    except RayUnavailable:
        driver.end()
        raise
    if kind != "ready":
        driver.end()
        raise RayUnavailable(f"Ray could not be started or reached: {news[0]}")
    driver.head, driver.resources = news
    return driver


class RayBackend:
    """Trainings as Ray tasks; one backend per server process, any number of servers per cluster.

    The trainings wait in this server's fair queue (``..fair``: at most ``per_owner`` submissions per owner,
    turns round-robin across owners) and go to the cluster as it has room for them: ``slots`` at once (default:
    one per CPU, and per GPU, the cluster has, each training taking ``cpus_per_training`` CPUs or
    ``gpus_per_training`` GPUs).

    Ray's driver runs in a process of its own (``driver.py``): Ray ends its driver's process when the head
    stays away for ``RAY_gcs_rpc_server_reconnect_timeout_s``, and that process is never this one. A cluster
    whose head stops answering (for ``HEAD_LOST_SECONDS``), or whose driver ends, is *lost*: its runs end as
    failed with a message, the driver is ended, and each submit tries the cluster again: a
    :class:`RayUnavailable` within ``MNIST_RAY_CONNECT_TIMEOUT`` seconds while it is away (a new local Ray when
    there is no ``RAY_ADDRESS``), trainings again once it is back.

    ``limits``: the most time and memory one training may be estimated to take (default: this server's,
    ``WorkLimits.from_env()``, read at each submit).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_training: float = 1,
                 gpus_per_training: float = 1, connect_timeout: float | None = None,
                 limits: WorkLimits | None = None, per_owner: int | None = None, slots: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.timeout = connect_timeout or float(os.environ.get(CONNECT_TIMEOUT_ENV, "10"))
        self.num_cpus = num_cpus
        self.cpus_per_training, self.gpus_per_training = cpus_per_training, gpus_per_training
        self.limits = limits
        self.slots = slots
        self._queue = FairQueue(per_owner)
        self._sent: dict[str, tuple[Job, str | None]] = {}  # trainings handed to the cluster, not ended, by id
        self._lock = threading.RLock()
        self._driver: _Driver | None = None
        self._connect()
        atexit.register(self._let_go_at_exit)
        threading.Thread(target=self._watch, name="mnist-ray-watch", daemon=True).start()

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "this machine's local Ray"

    def _connect(self) -> _Driver:
        """The driver, started (with a local Ray of its own when there is no address) when there is none;
        RayUnavailable when it cannot be."""
        with self._lock:
            if self._driver is not None:
                return self._driver
            if self.address:
                _check_reachable(self.address, self.timeout)
            driver = start_driver(self.address, self.num_cpus,
                                  self.timeout + STARTUP_SECONDS if not self.address else self.timeout + 30)
            self._driver = driver
        threading.Thread(target=self._listen, args=(driver,), name="mnist-ray-listen", daemon=True).start()
        return driver

    def _lose(self, driver: _Driver, message: str | None = None) -> None:
        """The cluster stopped answering (or the backend lets go of it): fail its runs, end its driver."""
        with self._lock:
            if self._driver is not driver:
                return
            self._driver = None
            sent, self._sent = list(self._sent.values()), {}
            for _, owner in sent:
                self._queue.ended(owner)
        if message is None:
            log.warning("%s stopped answering; its %d run(s) failed", self.where, len(sent))
        for job, _ in sent:
            job.fail(message or self._lost_message())
        driver.end()

    def _lost_message(self) -> str:
        again = ("train again once it is back (ray start --head)" if self.address
                 else "train again: a new local Ray starts")
        return f"{self.where} stopped answering, so this run was lost; {again}"

    def describe(self) -> str:
        res = self._connect().resources
        return f"Ray cluster at {self.address or 'local'}: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"

    def _resources(self, driver: _Driver, config: TrainConfig) -> dict:
        device = config.device
        wants_gpu = device.startswith("cuda") or (device == "auto" and driver.resources.get("GPU", 0) > 0)
        return {"num_gpus": self.gpus_per_training, "num_cpus": 0} if wants_gpu else {"num_cpus": self.cpus_per_training}

    def _room(self, driver: _Driver) -> int:
        """Trainings the cluster can run at once."""
        if self.slots:
            return self.slots
        res = driver.resources
        return max(1, int(res.get("CPU", 0) // self.cpus_per_training)
                   + (int(res.get("GPU", 0) // self.gpus_per_training) if self.gpus_per_training else 0))

    def submit(self, config: TrainConfig, data: DataSpec = DataSpec(), start: StartFrom | None = None,
               owner: str | None = None, group: str | None = None) -> Job:
        """Queue a training (a fine-tuning with ``start``) for the cluster; ValueError at once for settings
        that cannot train anywhere or are over the limits, RayUnavailable (a ValueError) within the connect
        timeout when the cluster does not answer, :class:`~mnist_core.jobs.fair.TooManyTrainings` when
        ``owner`` has as many submissions queued or running as allowed (``group``: a sweep's trainings, which
        count as one; see :meth:`mnist_core.jobs.ThreadBackend.submit`)."""
        config.validate()
        (self.limits or WorkLimits.from_env()).check(config)
        driver = self._connect()
        if not driver.answers(self.timeout):   # lost since the last look: never queue for a cluster that is gone
            self._lose(driver)
            self._connect()                      # a new local Ray, or RayUnavailable for a named cluster
        job = Job(config, data, start)
        with self._lock:
            self._queue.put(job, owner, group)
        job.on_stop(lambda: self._stop(job))
        self._dispatch()
        return job

    def _dispatch(self) -> None:
        """Hand the cluster the queued trainings whose turn it is, as long as it has room."""
        with self._lock:
            driver = self._driver
            while driver is not None and len(self._queue) and len(self._sent) < self._room(driver):
                job, owner = self._queue.take()
                self._sent[job.id] = (job, owner)
                try:
                    driver.send("submit", job.id, job.config, job.data, job.start, self._resources(driver, job.config))
                except OSError:  # the driver ended meanwhile: its listener fails what was sent
                    return

    def _stop(self, job: Job) -> None:
        with self._lock:
            dropped = self._queue.remove(job)
            driver = self._driver if job.id in self._sent else None
        if dropped:
            job.finish(JobResult.never_started())
        elif driver is not None:
            try:
                driver.send("stop", job.id)
            except OSError:  # the driver went away meanwhile: its runs fail with a message anyway
                pass

    def _ended(self, job: Job) -> None:
        with self._lock:
            sent = self._sent.pop(job.id, None)
            if sent is not None:
                self._queue.ended(sent[1])
        self._dispatch()

    def _listen(self, driver: _Driver) -> None:
        """Carry the driver's news to the jobs, until it ends (then the cluster is lost)."""
        while True:
            try:
                kind, *news = driver.conn.recv()
            except (EOFError, OSError):
                break
            if kind == "reply":
                driver.answer(*news)
                continue
            job_id, what, *arguments = news
            job = self._sent.get(job_id, (None,))[0]
            if job is None:
                continue
            if kind == "call" and what == "result":
                job.finish(*arguments)
            elif kind == "call":
                getattr(job, what)(*arguments)     # mark_running, set_note, set_progress, add_epoch
            else:                                  # "lost": the worker, or the whole cluster, went away
                log.warning("Ray training %s lost: %s", job_id, what)
                job.fail(what if driver.answers() else self._lost_message())
            if job.done:
                self._ended(job)
        self._lose(driver)

    def queued(self) -> int:
        with self._lock:
            return len(self._queue) + sum(1 for j, _ in self._sent.values() if j.status == QUEUED)

    def _watch(self) -> None:
        """Each second: is the head answering (lost after HEAD_LOST_SECONDS of silence)? Then the queue."""
        silent_since = None
        while True:
            time.sleep(1.0)
            driver = self._driver
            if driver is None:
                continue
            if not driver.answers():
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since >= HEAD_LOST_SECONDS:
                    self._lose(driver)
                    silent_since = None
                continue
            silent_since = None
            self._update_queue(driver)

    def _update_queue(self, driver: _Driver) -> None:
        """Positions of the trainings the cluster has not started; the cluster's room (workers come and go)."""
        with self._lock:
            waiting = [j for j, _ in self._sent.values() if j.status == QUEUED]
            queued_here = len(self._queue)
        try:
            if waiting:
                ahead = driver.ask("ahead", [j.id for j in waiting])
                for job in waiting:
                    if job.id in ahead:
                        job.set_queue_position(ahead[job.id])
            if queued_here:
                driver.resources = driver.ask("resources")
                self._dispatch()
        except (TimeoutError, OSError, RuntimeError):
            return

    def close(self) -> None:
        """Stop every training submitted here and let go of the cluster (a local Ray ends, every process of
        it); a later submit connects again."""
        with self._lock:
            jobs = [j for j, _ in self._sent.values()] + self._queue.waiting()
            driver = self._driver
        for job in jobs:
            job.stop()
        if driver is not None:
            self._lose(driver, message="stopped: the server let go of Ray")

    def _let_go_at_exit(self) -> None:
        driver = self._driver
        if driver is not None:
            self._lose(driver, message="stopped: the server stopped")
