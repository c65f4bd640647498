"""What the run store costs the page: Train → finished page, and the server's memory with many runs.

Runs the page as it is and the page of an earlier revision without the store (``--before``, checked out
into a temporary git worktree), alternately, on the same machine in one run:

1. Train → finished page: one browser session presses Train (the tutorial's settings) and waits for the
   finished page, ``--rounds`` times per page, alternating; medians and their ratio.
2. Memory: ``--workspaces`` browser sessions (pages kept open, as a class would), each training
   ``--runs`` one-epoch runs; the server's resident memory (VmRSS) afterwards, per page.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_store.py --before REV
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_page import CHROMIUM_ARGS, HERE, IDLE, ROOT, rss_mb, start_server


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a git revision of the page without the store")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="measure Train → finished page only")
    parser.add_argument("--out", default=str(HERE / "results" / "store.json"))
    args = parser.parse_args()
    old = Path(tempfile.mkdtemp()) / "before"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), args.before], cwd=ROOT, check=True)
    state = tempfile.mkdtemp()
    pages = {"before": (old, {**os.environ}), "store": (ROOT, {**os.environ, "MNIST_STATE_DIR": state})}
    report = {"before": subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, text=True,
                                       capture_output=True).stdout.strip(), "cpus": os.cpu_count()}
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
        report["train_to_page_median_s"] = {k: statistics.median(v) for k, v in times.items()}
        report["train_to_page_ratio"] = round(report["train_to_page_median_s"]["store"]
                                              / report["train_to_page_median_s"]["before"], 3)
        print(json.dumps(report), flush=True)
        if args.no_memory:
            return
        report["memory"] = {name: memory(cwd, {**env, "MNIST_STATE_DIR": tempfile.mkdtemp()}, args.workspaces,
                                         args.runs) for name, (cwd, env) in pages.items()}
        report["memory"]["workspaces"], report["memory"]["runs_each"] = args.workspaces, args.runs
        total = {k: report["memory"][k]["rss_mb_with_all_runs"]["total"] for k in pages}
        report["memory_ratio"] = round(total["store"] / total["before"], 3)
        print(json.dumps(report["memory"]), flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
