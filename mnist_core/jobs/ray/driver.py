"""Ray's driver, in a process of its own that the server can lose: ``python -m mnist_core.jobs.ray.driver FD``.

Ray's driver ends its whole process when the cluster's head (its GCS) stays unreachable for
``RAY_gcs_rpc_server_reconnect_timeout_s``, and ``ray.shutdown()`` cannot be relied on to prevent it once the
head is gone (it may hang, and a later ``ray.init`` then fails as a second one). In a web server's process
that ended every visitor's page, so the server never connects to Ray itself: this process does, and the
backend (``backend.py``) talks to it over the socket ``FD``, ends it when the head is lost, and starts another.

It is the leader of a session of its own (the backend starts it so), and a local Ray it starts lives in that
session: ending the session ends every process of that Ray, its agents included. It ends with the server too,
taking its session with it: the socket closes when the server's process ends, however it ends. (Not with
``PR_SET_PDEATHSIG``: that follows the *thread* that started the driver, and a Streamlit script run's thread
ends long before the server.)

What goes over the socket (pickled tuples): the backend sends ``("submit", job_id, config, data, start,
resources)``, ``("stop", job_id)`` and ``("ask", request, question, *arguments)`` (``ahead``, ``resources``); the driver answers once
``("ready", head, resources)`` or ``("failed", message)``, then sends ``("call", job_id, method, *arguments)``
for each of a training's reports (the :class:`~mnist_core.jobs.Job` driver's side), ``("lost", job_id,
message)`` and ``("reply", request, value)``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from multiprocessing.connection import Connection

from .session import end_session


def _end_here(*_) -> None:
    end_session(os.getsid(0))
    os._exit(0)


class _Driver:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._send_lock = threading.Lock()
        self.call_timeout = 10.0  # the backend's CALL_TIMEOUT_SECONDS, from its options

    def send(self, *message) -> None:
        with self._send_lock:
            self.conn.send(message)

    def start(self, options: dict) -> None:
        import ray

        import mnist_core

        from .board import BOARD_NAME, NAMESPACE, JobBoard
        address, self.call_timeout = options["address"], options["call_timeout"]
        # "local": always a new Ray of our own, never a stale cluster recorded on this machine
        ray.init(address=address or "local", num_cpus=None if address else options["num_cpus"],
                 namespace=NAMESPACE, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"py_modules": [mnist_core]} if address else None)
        try:
            head = ray.get_runtime_context().gcs_address
        except Exception:  # a Ray Client connection (ray://) names no head here: it is not watched
            head = None
        self.board = JobBoard.options(name=BOARD_NAME, get_if_exists=True, lifetime="detached").remote()
        self.send("ready", head, dict(ray.cluster_resources()))

    def submit(self, job_id, config, data, start, resources) -> None:
        import ray

        from .task import train_task
        try:
            ray.get(self.board.submitted.remote(job_id), timeout=self.call_timeout)
            stream = train_task.options(**resources, name=f"mnist-train-{job_id[:8]}").remote(
                job_id, config, data, self.board, start)
        except Exception as exc:
            return self.send("lost", job_id, f"the cluster did not take the training ({exc.__class__.__name__}); "
                                             "try again in a moment")
        threading.Thread(target=self._follow, args=(job_id, stream), daemon=True).start()

    def _follow(self, job_id: str, stream) -> None:
        import ray
        try:
            for ref in stream:
                self.send("call", job_id, *ray.get(ref))
        except Exception as exc:  # the worker, or the whole cluster, went away mid-training
            self.send("lost", job_id, f"the worker training it was lost ({exc.__class__.__name__}); train again")

    def stop(self, job_id: str) -> None:
        self.board.stop.remote(job_id)

    def ahead(self, job_ids: list[str]) -> dict[str, int]:
        import ray
        return ray.get(self.board.ahead.remote(job_ids), timeout=self.call_timeout)

    def resources(self) -> dict:
        import ray
        return dict(ray.cluster_resources())

    def serve(self) -> None:
        while True:
            try:
                kind, *arguments = self.conn.recv()
            except (EOFError, OSError):  # the backend let go of this driver, or the server ended
                return
            try:
                if kind == "submit":
                    self.submit(*arguments)
                elif kind == "stop":
                    self.stop(*arguments)
                elif kind == "ask":
                    request, question, *rest = arguments
                    self.send("reply", request, getattr(self, question)(*rest))
            except Exception as exc:  # a call that failed here must not end the driver: the backend decides
                if kind == "ask":  # Ray's own exceptions do not always unpickle: the reason travels as text
                    self.send("reply", arguments[0], RuntimeError(f"{exc.__class__.__name__}: {exc}"))


def main(fd: int) -> None:
    driver = _Driver(Connection(fd))
    try:
        driver.start(driver.conn.recv())
    except Exception as exc:
        driver.send("failed", f"{exc.__class__.__name__}: {exc}")
        _end_here()
    signal.signal(signal.SIGTERM, _end_here)  # after ray.init, which puts a handler of its own
    driver.serve()
    _end_here()


if __name__ == "__main__":
    main(int(sys.argv[1]))
