"""What the run store costs the page: Train → finished page, and the server's memory with many runs.

Runs the page as it is ("store"), the same page with its store unreachable ("tab": every run kept in its
browser tab only, the page's fallback, so the difference is what the store itself costs) and, with
``--before``, the page of an earlier revision without the store (checked out into a temporary git worktree),
alternately, on the same machine in one run:

1. Train → finished page: one browser session presses Train (the tutorial's settings) and waits for the
   finished page, ``--rounds`` times per page, alternating; medians and their ratio.
2. Memory: ``--workspaces`` browser sessions (pages kept open, as a class would), each training
   ``--runs`` one-epoch runs; the server's resident memory (VmRSS) afterwards, per page.
3. The store's own work for one Train (``--part ops``, in this process, no browser): each write and read
   the server makes for a default training, timed against a SQLite file, ``--repeats`` times; medians.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_store.py [--before REV]

Each run is appended, with the revision it measured, to results/store.json (1, 2) or results/store_ops.json (3).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_page import CHROMIUM_ARGS, HERE, IDLE, ROOT, rss_mb, start_server
from revision import add_worktree, remove_worktree


async def train_once(browser, url: str) -> float:
    page = await browser.new_page(viewport={"width": 1280, "height": 3400})
    try:
        await page.goto(url)
        await page.locator(IDLE).wait_for(timeout=120_000)
        start = time.perf_counter()
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.get_by_text("Mistakes of run #1").wait_for(timeout=600_000)
        await page.locator(IDLE).wait_for(timeout=600_000)
        return time.perf_counter() - start
    finally:
        await page.close()


async def workspace(browser, url: str, runs: int):
    """A page that trains ``runs`` one-epoch runs, one after the other; left open."""
    page = await browser.new_page(viewport={"width": 1280, "height": 2000})
    await page.goto(f"{url}/?epochs=1")
    await page.locator(IDLE).wait_for(timeout=120_000)
    for n in range(1, runs + 1):
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.get_by_text(f"Mistakes of run #{n}").wait_for(timeout=600_000)
        await page.locator(IDLE).wait_for(timeout=600_000)
    return page


async def with_browser(job):
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                          args=CHROMIUM_ARGS)
        try:
            return await job(browser)
        finally:
            await browser.close()


def memory(cwd: Path, env: dict, workspaces: int, runs: int) -> dict:
    proc, url = start_server(env, cwd)
    try:
        asyncio.run(with_browser(lambda b: train_once(b, url)))  # warm-up: MNIST loaded once
        before = rss_mb(proc.pid)

        async def many(browser):
            pages = []
            for _ in range(workspaces):  # one after another: the training slots would queue them anyway
                pages.append(await workspace(browser, url, runs))
            await asyncio.sleep(5)
            return rss_mb(proc.pid)
        after = asyncio.run(with_browser(many))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"rss_mb_after_warmup": before, "rss_mb_with_all_runs": after}


def store_work(repeats: int) -> dict:
    """Milliseconds of the store's work for one default training: the run created at Train, two heartbeats
    (queued, running), ten epochs written as they end, the result, the workspace's runs read by the two
    script runs (Train, then the finished page) and the model rebuilt from its stored checkpoint."""
    sys.path.insert(0, str(ROOT))
    from playground.store import RunStore
    from mnist_core import TrainConfig, load_checkpoint
    from mnist_core.jobs import ThreadBackend
    job = ThreadBackend(slots=1).run_here(TrainConfig())
    epochs = job.snapshot().epochs
    runs = RunStore(f"sqlite:///{Path(tempfile.mkdtemp()) / 'runs.sqlite'}")
    per_train = {"add_run": 1, "heartbeat": 2, "add_epoch": len(epochs), "finish_run": 1, "runs": 2,
                 "checkpoint_and_load": 1}
    ms: dict[str, list[float]] = {step: [] for step in per_train}

    def timed(step, call):
        start = time.perf_counter()
        out = call()
        ms[step].append(1000 * (time.perf_counter() - start))
        return out
    for _ in range(repeats):
        ws = runs.new_workspace()
        stored, _ = timed("add_run", lambda: runs.add_run(ws, job.config.to_dict()))
        for status in ("queued", "running"):
            timed("heartbeat", lambda: runs.heartbeat(stored.id, status=status, device="cpu", worker="bench"))
        for report in epochs:
            timed("add_epoch", lambda: runs.add_epoch(stored.id, report))
        timed("finish_run", lambda: runs.finish_run(stored.id, job.result))
        for _ in range(2):
            timed("runs", lambda: runs.runs(ws))
        timed("checkpoint_and_load", lambda: load_checkpoint(io.BytesIO(runs.checkpoint(stored.id)), device="cpu"))
    median = {step: round(statistics.median(v), 2) for step, v in ms.items()}
    return {"repeats": repeats, "median_ms": median, "times_per_train": per_train,
            "per_train_ms": round(sum(median[k] * n for k, n in per_train.items()), 1),
            "training_s_in_process": round(job.result.train_seconds, 2)}


def revision() -> str:
    """The commit measured, marked when the working tree differs from it."""
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, text=True, capture_output=True).stdout.strip()  # noqa: E731
    return git("rev-parse", "--short", "HEAD") + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def append_run(path: Path, report: dict) -> None:
    """Add this run to the file's list of runs (every run is kept, each with its commit and command)."""
    record = json.loads(path.read_text()) if path.exists() else {"runs": []}
    record["runs"].append({"commit": revision(), "command": " ".join(["bench_store.py", *sys.argv[1:]]), **report})
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="also a git revision of the page before the store")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="measure Train → finished page only")
    parser.add_argument("--part", choices=["page", "ops"], default="page",
                        help="page: the pages in a browser (1, 2); ops: the store's own work (3)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", help="the results file this run is appended to "
                                       "(default: results/store.json, results/store_ops.json for --part ops)")
    args = parser.parse_args()
    out = Path(args.out or HERE / "results" / ("store_ops.json" if args.part == "ops" else "store.json"))
    if args.part == "ops":
        report = {"cpus": os.cpu_count(), "store_work": store_work(args.repeats)}
        print(json.dumps(report), flush=True)
        append_run(out, report)
        return
    scratch = Path(tempfile.mkdtemp())
    (scratch / "not-a-folder").touch()  # a database under a file: the store cannot open it, so the page keeps
    unreachable = f"sqlite:///{scratch / 'not-a-folder' / 'runs.sqlite'}"  # runs in the tab
    pages = {"tab": (ROOT, {**os.environ, "MNIST_DB_URL": unreachable}),
             "store": (ROOT, {**os.environ, "MNIST_STATE_DIR": str(scratch / "state")})}
    report = {"cpus": os.cpu_count()}
    old = scratch / "before"
    if args.before:
        add_worktree(args.before, old)
        pages = {"before": (old, {**os.environ, "MNIST_STATE_DIR": str(scratch / "state-before")}), **pages}
        report["before"] = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, text=True,
                                          capture_output=True).stdout.strip()
    try:
        servers = {name: start_server(env, cwd) for name, (cwd, env) in pages.items()}
        try:
            times = {name: [] for name in pages}
            for name, (_, url) in servers.items():  # warm-up: each server loads MNIST once
                asyncio.run(with_browser(lambda b: train_once(b, url)))
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():
                    times[name].append(round(asyncio.run(with_browser(lambda b: train_once(b, url))), 2))
                    print(name, times[name][-1], flush=True)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
        report["train_to_page_s"] = times
        median = report["train_to_page_median_s"] = {k: statistics.median(v) for k, v in times.items()}
        report["train_to_page_ratio"] = {f"store/{k}": round(median["store"] / median[k], 3)
                                         for k in pages if k != "store"}
        print(json.dumps(report), flush=True)
        if args.no_memory:
            return
        report["memory"] = {name: memory(cwd, {**env, "MNIST_STATE_DIR": tempfile.mkdtemp()}, args.workspaces,
                                         args.runs) for name, (cwd, env) in pages.items()}
        total = {k: report["memory"][k]["rss_mb_with_all_runs"]["total"] for k in pages}
        report["memory"]["workspaces"], report["memory"]["runs_each"] = args.workspaces, args.runs
        report["memory_ratio"] = {f"store/{k}": round(total["store"] / total[k], 3) for k in pages if k != "store"}
        print(json.dumps(report["memory"]), flush=True)
    finally:
        if args.before:
            remove_worktree(old)
        append_run(out, report)


if __name__ == "__main__":
    main()
