"""Job backends under load: trainings submitted at once, and the web server's memory.

Throughput: N trainings submitted together straight to a backend (no browser);
for each, the seconds from submit to its finished result, in-process with one
training slot against Ray with one and with two worker CPUs on this machine.
Each backend runs in a fresh process (one Ray per process).

Memory: `streamlit run` with each backend (with Ray: pointed at a
`ray start --head` cluster of two CPUs that this script starts and stops),
one Chromium page pressing Train 20 times (the default settings), then the
server's resident memory and, with Ray, the summed memory of the cluster's
processes.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_backends.py
    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_backends.py --part memory --trainings 20
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SETUPS = {"thread, 1 slot": ("thread", 1), "ray, 1 worker CPU": ("ray", 1), "ray, 2 worker CPUs": ("ray", 2)}
WAVES = [("tutorial", 1), ("tutorial", 10), ("tutorial", 20), ("cnn-fast", 5)]


def one_setup(kind: str, size: int) -> dict:
    """Run every wave on one backend; called in a child process."""
    from mnist_core import preset_config
    from mnist_core.jobs import get_backend
    start = time.perf_counter()
    backend = get_backend(kind, slots=size) if kind == "thread" else get_backend(kind, num_cpus=size)
    out = {"backend_start_s": round(time.perf_counter() - start, 2), "waves": []}
    warm = backend.submit(preset_config("tutorial", epochs=1))  # loads the data in the worker(s); not counted
    warm.wait()
    for preset, count in WAVES:
        submitted = time.perf_counter()
        jobs = [backend.submit(preset_config(preset, seed=i)) for i in range(count)]
        ended = {}
        while len(ended) < count:
            for job in jobs:
                if job.id not in ended and job.done:
                    ended[job.id] = time.perf_counter() - submitted
            time.sleep(0.02)
        seconds = sorted(ended.values())
        statuses = sorted({j.result.status for j in jobs})
        out["waves"].append({"preset": preset, "trainings": count, "statuses": statuses,
                             "submit_to_result_s": [round(s, 2) for s in seconds],
                             "median_s": round(statistics.median(seconds), 2), "worst_s": round(seconds[-1], 2),
                             "accuracy_mean": round(statistics.mean(j.result.evaluation.accuracy for j in jobs), 4)})
    return out


def throughput() -> dict:
    results = {}
    for name, (kind, size) in SETUPS.items():
        child = subprocess.run([sys.executable, __file__, "--one", kind, str(size)], capture_output=True, text=True,
                               env={**os.environ, "MNIST_TRAINING_SLOTS": str(size)})
        if child.returncode != 0:
            raise SystemExit(f"{name} failed:\n{child.stderr[-3000:]}")
        results[name] = json.loads(child.stdout.strip().splitlines()[-1])
        print(name, json.dumps(results[name]["waves"]), file=sys.stderr)
    return results


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (a Ray head's GCS, raylet, workers...)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def ray_rss_mb(head_pid: int) -> dict:
    """The summed resident memory of a Ray cluster's processes: the ``ray start`` process and all below it."""
    from bench_page import rss_mb
    pids = [head_pid, *descendants(head_pid)]
    total = 0.0
    for pid in pids:
        try:
            total += rss_mb(pid)["total"] or 0
        except OSError:
            pass
    return {"ray_processes_mb": round(total, 1), "ray_process_count": len(pids)}


def memory(trainings: int, backends: list[str]) -> dict:
    """Per backend: a server (with Ray: pointed at a fresh `ray start --head` cluster of two CPUs), one
    Chromium page pressing Train ``trainings`` times, then the memory of the server and of Ray's processes."""
    from playwright.sync_api import sync_playwright

    from bench_page import CHROMIUM_ARGS, free_port, rss_mb, start_server
    from mnist_core.jobs import BACKEND_ENV
    results = {}
    for backend in backends:
        env, head = {**os.environ, BACKEND_ENV: backend}, None
        if backend == "ray":
            from tests.ray_cluster import start_head, stop_head
            port = free_port()
            ray_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
            head = start_head(port, num_cpus=2, env=ray_env)
            env.update(ray_env, RAY_ADDRESS=f"127.0.0.1:{port}")
        proc, url = start_server(env)
        try:
            started = time.perf_counter()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1600})
                page.goto(url)
                for n in range(1, trainings + 1):
                    page.get_by_role("button", name="Train", exact=True).click()
                    page.get_by_text(f"Classified by run #{n} ").wait_for(timeout=180_000)
                worker = page.get_by_text("Ray node").first.inner_text() if backend == "ray" else None
                browser.close()
            time.sleep(2)
            results[backend] = {"trainings": trainings, "seconds": round(time.perf_counter() - started, 1),
                                "server": rss_mb(proc.pid), "server_processes": 1 + len(descendants(proc.pid)),
                                **(ray_rss_mb(head.pid) if head else {}), **({"a_run_trained_by": worker}
                                                                              if worker else {})}
            print(backend, results[backend], file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            if head is not None:
                stop_head(head)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["throughput", "memory", "all"], default="all")
    parser.add_argument("--trainings", type=int, default=20, help="trainings before the memory is read")
    parser.add_argument("--backends", nargs="+", default=["thread", "ray"], choices=["thread", "ray"],
                        help="the page's backends to measure the memory of (ray: on a `ray start --head` "
                             "cluster this script starts)")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "backends.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_setup(args.one[0], int(args.one[1]))))
        return
    out = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    out["cpus"] = os.cpu_count()
    if args.part in ("throughput", "all"):
        out["throughput"] = throughput()
    if args.part in ("memory", "all"):
        out["memory"] = memory(args.trainings, args.backends)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
