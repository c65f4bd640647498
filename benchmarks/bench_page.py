"""The page under visitors: N browser sessions at once, each trains the default model and draws a digit.

Starts ``streamlit run`` on a free local port, opens N pages in Debian's
Chromium (Playwright), and in every page at once: presses Train, waits for the
finished page, draws a "1" on the canvas and waits for the prediction.
Reports per session the seconds from pressing Train to the finished page and
to the prediction, errors, whether each page shows only its own run, and the
server's resident memory (VmRSS, its own process) after all sessions trained.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_page.py --sessions 1 5 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IDLE = '[data-test-script-state="notRunning"]'  # the page's script run is over


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> dict:
    """Resident memory of the server: all of it, the heap (anonymous), and mapped files (libraries)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"total": fields.get("VmRSS"), "anonymous": fields.get("RssAnon"), "files": fields.get("RssFile")}


def start_server(env: dict, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("streamlit did not start")


async def session(browser, url: str, index: int) -> dict:
    page = await browser.new_page(viewport={"width": 1280, "height": 3400})
    out = {"session": index, "error": None}
    try:
        await page.goto(url)
        await page.locator('[data-test-script-state="notRunning"]').wait_for(timeout=120_000)
        start = time.perf_counter()
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.get_by_text("Mistakes of run #1").wait_for(timeout=600_000)
        await page.locator('[data-test-script-state="notRunning"]').wait_for(timeout=600_000)
        out["train_to_page_s"] = time.perf_counter() - start
        # one curve in "Compare runs": this session's own run, nobody else's
        await page.locator(".st-key-compare .scatterlayer .trace").first.wait_for(timeout=60_000)
        out["own_runs_only"] = await page.locator(".st-key-compare .scatterlayer .trace").count() == 1
        await page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=60_000)
        canvas = page.locator(".st-key-draw canvas.upper-canvas")
        await canvas.scroll_into_view_if_needed()
        box, previous = await canvas.bounding_box(), None
        while box != previous:
            await asyncio.sleep(0.3)
            box, previous = await canvas.bounding_box(), box
        start = time.perf_counter()
        await page.mouse.move(box["x"] + 140, box["y"] + 40)
        await page.mouse.down()
        for i in range(1, 21):
            await page.mouse.move(box["x"] + 140, box["y"] + 40 + 10 * i)
        await page.mouse.up()
        await page.locator(".st-key-prediction span").wait_for(timeout=120_000)
        out["draw_to_prediction_s"] = time.perf_counter() - start
        out["prediction"] = (await page.locator(".st-key-prediction span").inner_text()).strip()
    except Exception as exc:  # a benchmark reports failures, it does not stop at the first
        out["error"] = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        await page.close()
    return out


async def wave(url: str, n: int) -> list[dict]:
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                          args=CHROMIUM_ARGS)
        results = await asyncio.gather(*(session(browser, url, i) for i in range(n)))
        await browser.close()
    return list(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--out", default=str(HERE / "results" / "page.json"))
    args = parser.parse_args()
    env = {**os.environ}
    proc, url = start_server(env)
    report = {"cpus": os.cpu_count(), "waves": []}
    try:
        asyncio.run(wave(url, 1))  # warm-up: loads MNIST into the server once
        report["rss_mb_after_warmup"] = rss_mb(proc.pid)
        for n in args.sessions:
            results = asyncio.run(wave(url, n))
            ok = [r for r in results if r["error"] is None]
            row = {
                "sessions": n,
                "errors": [r["error"] for r in results if r["error"]],
                "train_to_page_s": sorted(round(r["train_to_page_s"], 2) for r in ok),
                "draw_to_prediction_s": sorted(round(r["draw_to_prediction_s"], 2) for r in ok),
                "own_runs_only": all(r["own_runs_only"] for r in ok),
                "predictions": sorted({r["prediction"] for r in ok}),
                "server_rss_mb": rss_mb(proc.pid),
            }
            if ok:
                row["train_to_page_median_s"] = statistics.median(row["train_to_page_s"])
            report["waves"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
