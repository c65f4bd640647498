"""The Ray job backend: trainings run as Ray tasks on a cluster's workers, CPU or GPU.

Optional: ``pip install -r requirements-ray.txt``. Chosen with ``MNIST_BACKEND=ray``
(the page) or ``--backend ray`` (the CLI); :func:`mnist_core.jobs.get_backend`
imports this package only then, so ``mnist_core`` never imports Ray otherwise.

- Each training is a Ray *generator task* (``task.py``) asking for one GPU when
  its device is CUDA (or ``auto`` on a cluster with GPUs), else one CPU (both
  configurable). Its epoch reports and batch progress stream back as the task
  yields them.
- Each worker process keeps MNIST in memory after its first training
  (:func:`mnist_core.jobs.shared_data`); Ray reuses worker processes.
- A small named actor, the *job board* (``board.py``), shared by every server
  of one demo, carries Stop to the worker (within a batch) and tells each
  queued training how many were submitted before it and have not started.
- A worker that dies mid-training ends its run as ``failed`` with a message
  (tasks are never retried: a half-trained run is not silently restarted).
- The backend (``backend.py``) keeps the trainings in a fair queue (the thread
  backend's rule, ``..fair``) and hands them to Ray's driver, which runs in a
  process of its own (``driver.py``): the server's process never connects to
  Ray, so Ray ending its driver when the head is gone never ends the server.
  A head silent for ``HEAD_LOST_SECONDS`` fails its runs and ends that driver.

``RAY_ADDRESS`` (Ray's own variable) names the cluster; without it a local
Ray starts on this machine, in the driver's process session (it ends with the
driver, the driver with the server).
"""

import importlib.util
import os
from urllib.parse import urlparse

if importlib.util.find_spec("ray") is None:  # the server never imports Ray itself: its driver process does
    raise ImportError("No module named 'ray'")

# Read by Ray on import, in the driver process, which inherits this process's environment.
if urlparse("//" + os.environ.get("RAY_ADDRESS", "")).hostname in (None, "localhost", "127.0.0.1"):
    # A local Ray, or a cluster on this machine's loopback address: stay on loopback (Ray would otherwise
    # put its own processes, and reach the head, on the machine's network address).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from .backend import (CALL_TIMEOUT_SECONDS, CONNECT_TIMEOUT_ENV, HEAD_LOST_SECONDS, RayBackend,  # noqa: E402
                      RayUnavailable)

__all__ = ["CALL_TIMEOUT_SECONDS", "CONNECT_TIMEOUT_ENV", "HEAD_LOST_SECONDS", "RayBackend", "RayUnavailable"]
