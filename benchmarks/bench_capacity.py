"""What the page costs the server per interaction, and how many visitors one server holds.

The server is ``streamlit run streamlit_app.py`` (headless, its own port, a store in a temporary folder); its
CPU is psutil's user + system time of the server process and every process under it (a local Ray's included),
read before and after each action once the page is idle. Sessions are driven by ``st_client`` (Streamlit's own
websocket protocol), whose canvas strokes are the values Chromium sent for a drawn "1" and "7" and whose page
load fetches the files Chromium fetched (``recorded_browser.json``, made by ``--part record``); ``--part browser`` measures the same actions from
Chromium, the check that the client makes the server do the same work.

Parts (all by default, except ``record``):

- **cpu**: per action, median and range over ``--reps``: a new visitor's page load, Train (tutorial defaults,
  a new visitor each time, to the finished page), a stroke (alternating "1" and "7" on a trained session);
  the student-minute (1 load + 2 Trains + 10 strokes) from those medians; and the training's own CPU and time
  (the page's job, trained as the server trains it, ``ThreadBackend.submit``, in a process of its own);
- **memory**: RSS per extra open session (the slope over ``--sessions-memory`` sessions) and the page's own
  share: RSS after the first page minus that of a bare ``python -c "import torch"``;
- **load**: ``--load`` sessions open, then all press Train at once: failures, and each finish after the clicks;
  with the thread backend, then ``MNIST_BACKEND=ray`` (the server's own local Ray) when ray is installed;
- **pinned**: Chromium on core 0, the server on core 1 (taskset): Train → finished page and stroke →
  prediction, against the training's own time on one core;
- **browser**: the cpu part's Train and stroke, pressed and drawn in Chromium.

``--profile DIR`` records the server with py-spy during a page load, a Train and a stroke (DIR/*.txt, collapsed
stacks) and prints where the CPU goes. Every run is appended to results/capacity.md.

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_capacity.py
    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_capacity.py --before REV   # and an earlier revision
    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_capacity.py --part cpu --profile /tmp/profile
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import psutil  # noqa: E402

from bench_page import CHROMIUM_ARGS, IDLE, free_port  # noqa: E402
from revision import add_worktree, remove_worktree  # noqa: E402
from st_client import Session  # noqa: E402

RECORDED = HERE / "recorded_browser.json"  # what Chromium sent: its strokes, its page load's requests
RESULTS = HERE / "results" / "capacity.md"
STROKE_POINTS = {"1": [[(140, 40), (140, 240)]], "7": [[(60, 50), (220, 50), (120, 250)]]}
GOALS = {  # the capacity issue's, server CPU seconds unless said
    "train_over_training_s": 0.5,     # server CPU per Train minus the training's own CPU
    "stroke_s": 0.05,
    "page_load_s": 0.15,
    "student_minute_s": 4.0,          # 1 load, 2 Trains, 10 strokes
    "load_last_finish_s": 60.0,       # 30 sessions pressing Train at once
    "rss_per_session_mb": 5.0,
    "page_share_mb": 250.0,
    "pinned_train_over_training_s": 1.0,
    "pinned_stroke_s": 0.3,
}


# the server ------------------------------------------------------------------------------------------------------

class Server:
    """``streamlit run`` of one checkout, on its own port and store; optionally pinned to CPU cores."""

    def __init__(self, cwd: Path, env: dict | None = None, cores: str | None = None):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
        if cores is not None:
            cmd = ["taskset", "-c", cores, *cmd]
        env = {**os.environ, "MNIST_STATE_DIR": tempfile.mkdtemp(), **(env or {})}
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import urllib.request
        for _ in range(400):
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            self.close()
            raise RuntimeError("streamlit did not start")
        self.ps = psutil.Process(self.proc.pid)
        if cores is not None:  # taskset execs the server in its own process: the pid is the server's
            assert self.ps.cmdline()[1:3] == ["-m", "streamlit"], self.ps.cmdline()

    def cpu(self) -> float:
        """User + system seconds of the server and every process under it (a local Ray's workers)."""
        total = 0.0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def summary(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "all": [round(x, 3) for x in xs]}


def strokes() -> list[dict]:
    """The canvas values Chromium sent for each recorded stroke, as the widget state's fields."""
    recorded = json.loads(RECORDED.read_text())["strokes"]
    return [{"json_value": recorded[digit]} for digit in sorted(recorded)]


def visitor(url: str, **kw) -> Session:
    """A load client's session that loads the page as Chromium did."""
    return Session(url, assets=tuple(json.loads(RECORDED.read_text())["page_load_requests"]), **kw)


CANVAS_KEY = r"canvas-\d+"  # the drawing canvas (not the handwriting section's "hw-canvas-N")


async def measured(server: Server, action) -> float:
    """Server CPU seconds of ``action`` (a coroutine function), from an idle page to the idle page after it."""
    await asyncio.sleep(0.3)
    before = server.cpu()
    await action()
    return server.cpu() - before


class Profiler:
    """py-spy recording the server while an action runs; its collapsed stacks go to ``path``."""

    def __init__(self, server: Server, path: Path | None):
        self.server, self.path, self.proc = server, path, None

    def __enter__(self):
        if self.path is not None:
            self.proc = subprocess.Popen(["py-spy", "record", "--pid", str(self.server.proc.pid), "--format", "raw",
                                          "--rate", "200", "--nonblocking",
                                          "--subprocesses", "--output", str(self.path)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # py-spy attaches
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


# the parts -------------------------------------------------------------------------------------------------------

def training_self(cwd: Path, runs: int, cores: str | None = None) -> dict:
    """The page's job itself (training and its evaluation) trained as the server trains it, in a background
    thread of the thread backend with its slots and threads per training (``ThreadBackend.submit``), in a
    process of its own, after one warm-up: its CPU and wall seconds."""
    code = (
        "import json, time\n"
        "from mnist_core import TrainConfig\n"
        "from mnist_core.jobs import ThreadBackend\n"
        "backend = ThreadBackend()\n"
        "backend.submit(TrainConfig()).wait()\n"
        "out = []\n"
        f"for _ in range({runs}):\n"
        "    c, w = time.process_time(), time.perf_counter()\n"
        "    backend.submit(TrainConfig()).wait()\n"
        "    out.append((time.process_time() - c, time.perf_counter() - w))\n"
        "print(json.dumps(out))\n")
    cmd = [sys.executable, "-c", code]
    if cores is not None:
        cmd = ["taskset", "-c", cores, *cmd]
    lines = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    pairs = json.loads(lines[-1])
    return {"cpu_s": summary([c for c, _ in pairs]), "wall_s": summary([w for _, w in pairs])}


async def cpu_part(server: Server, reps: int) -> dict:
    """Server CPU per page load, per Train and per stroke, each from an idle page to the idle page after it."""
    loads, trains, stroke_costs = [], [], []
    await warm_up(server)
    for i in range(reps + 1):
        async with visitor(server.url) as s:
            cost = await measured(server, s.open)
            if i:  # the first new visitor after the warm-up still fills caches
                loads.append(cost)
            trains.append(await measured(server, lambda: train(s)))
    async with visitor(server.url) as s:
        await s.open()
        await train(s)
        for i in range(2 * reps + 1):
            cost = await measured(server, lambda: stroke(s, i))
            if i:  # the first stroke builds the canvas's first views: a warm-up
                stroke_costs.append(cost)
    idle_before = server.cpu()
    await asyncio.sleep(3.0)
    out = {"page_load_s": summary(loads), "train_s": summary(trains), "stroke_s": summary(stroke_costs),
           "idle_s_per_s": round((server.cpu() - idle_before) / 3.0, 4)}
    out["student_minute_s"] = round(out["page_load_s"]["median"] + 2 * out["train_s"]["median"]
                                    + 10 * out["stroke_s"]["median"], 2)
    return out


async def profile_part(server: Server, reps: int, folder: Path) -> None:
    """py-spy over ``reps`` of each action, one recording per action (apart from the measurements, which
    py-spy would disturb)."""
    await warm_up(server)
    with Profiler(server, folder / "page_load.txt"):
        for _ in range(reps):
            async with visitor(server.url) as s:
                await s.open()
    async with visitor(server.url) as s:
        await s.open()
        with Profiler(server, folder / "train.txt"):
            for _ in range(reps):
                await train(s)
        with Profiler(server, folder / "stroke.txt"):
            for i in range(2 * reps):
                await stroke(s, i)


async def warm_up(server: Server) -> None:
    """The cold server's first visitor: MNIST, the shipped model, the caches."""
    async with visitor(server.url) as first:
        await first.open()
        await train(first)
        await stroke(first, 0)


async def train(s: Session) -> None:
    await s.click("Train", key="train")
    await s.idle()
    if s.errors or not any("Mistakes of run #" in t for t in s.texts):
        raise RuntimeError(f"Train did not finish its page: {s.errors}")


async def stroke(s: Session, i: int) -> None:
    values = strokes()
    await s.set(values[i % len(values)], key=CANVAS_KEY)
    await s.idle()
    if s.errors or not s.texts:
        raise RuntimeError(f"the stroke drew no prediction: {s.errors}")


async def memory_part(cwd: Path, sessions: int) -> dict:
    bare = subprocess.run([sys.executable, "-c", "import torch, psutil; print(psutil.Process().memory_info().rss)"],
                          check=True, capture_output=True, text=True).stdout
    bare_mb = int(bare) / 2**20
    with Server(cwd) as server:
        held = []
        try:
            first = visitor(server.url)
            await first.__aenter__()
            held.append(first)
            await first.open()
            await asyncio.sleep(1.0)
            rss = [server.rss_mb()]
            for _ in range(sessions):
                s = visitor(server.url)
                await s.__aenter__()
                held.append(s)
                await s.open()
                await asyncio.sleep(0.5)
                rss.append(server.rss_mb())
        finally:
            for s in held:
                await s.__aexit__()
    n = list(range(len(rss)))
    slope = statistics.linear_regression(n, rss).slope
    return {"bare_torch_mb": round(bare_mb, 1), "after_first_page_mb": round(rss[0], 1),
            "page_share_mb": round(rss[0] - bare_mb, 1), "rss_mb_by_sessions": [round(r, 1) for r in rss],
            "rss_per_session_mb": round(slope, 2)}


async def load_part(cwd: Path, count: int, env: dict | None = None) -> dict:
    with Server(cwd, env) as server:
        async with visitor(server.url) as warm:  # the dataset loaded once, as on a server that ran before
            await warm.open()
        sessions = [visitor(server.url, timeout=900) for _ in range(count)]
        try:
            for s in sessions:
                await s.__aenter__()
            await asyncio.gather(*(s.open() for s in sessions))
            cpu_before = server.cpu()
            clicked = time.perf_counter()

            async def one(s: Session) -> dict:
                try:
                    await s.click("Train", key="train")
                    await s.idle()
                    ok = not s.errors and any("Mistakes of run #1" in t for t in s.texts)
                    return {"finished_s": time.perf_counter() - clicked, "error": None if ok else
                            (s.errors or ["no finished page"])[0][:200]}
                except Exception as exc:  # a benchmark counts failures, it does not stop at the first
                    return {"finished_s": time.perf_counter() - clicked,
                            "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
            results = await asyncio.gather(*(one(s) for s in sessions))
            cpu = server.cpu() - cpu_before
        finally:
            for s in sessions:
                try:
                    await s.__aexit__()
                except Exception:  # a session already broken is closed
                    pass
    finished = sorted(r["finished_s"] for r in results)
    return {"sessions": count, "failed": sum(r["error"] is not None for r in results),
            "errors": sorted({r["error"] for r in results if r["error"]}),
            "first_finish_s": round(finished[0], 1), "median_finish_s": round(statistics.median(finished), 1),
            "last_finish_s": round(finished[-1], 1), "server_cpu_s": round(cpu, 1)}


def browser_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(url)
    page.locator(IDLE).wait_for(timeout=120_000)
    page.wait_for_load_state("networkidle")
    time.sleep(1.0)
    return page


def train_in_browser(page) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Mistakes of run #").first.wait_for(timeout=600_000)
    page.locator(IDLE).wait_for(timeout=600_000)


def browser_part(cwd: Path, reps: int, cores: dict | None = None) -> dict:
    """Chromium against a server: Train → finished page and stroke → prediction, their time and server CPU.
    With ``cores`` ({"browser": "0", "server": "1"}) each is pinned to its core."""
    from helpers import draw_on
    from playwright.sync_api import sync_playwright
    affinity = os.sched_getaffinity(0)
    out = {"train_s": [], "train_cpu_s": [], "stroke_s": [], "stroke_cpu_s": []}
    with Server(cwd, cores=cores and cores["server"]) as server, sync_playwright() as p:
        if cores:
            os.sched_setaffinity(0, {int(cores["browser"])})  # Chromium inherits this process's core
        try:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        finally:
            os.sched_setaffinity(0, affinity)
        try:
            warm = browser_page(browser, server.url)
            train_in_browser(warm)
            warm.close()
            for _ in range(reps):
                page = browser_page(browser, server.url)
                cpu, start = server.cpu(), time.perf_counter()
                train_in_browser(page)
                out["train_s"].append(time.perf_counter() - start)
                out["train_cpu_s"].append(server.cpu() - cpu)
                page.close()
            page = browser_page(browser, server.url)
            train_in_browser(page)
            canvas = ".st-key-draw canvas.upper-canvas"
            for i in range(2 * reps + 1):
                if i:
                    page.get_by_role("button", name="Clear", exact=True).click()
                    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
                page.locator(IDLE).wait_for(timeout=30_000)
                time.sleep(0.5)
                cpu = server.cpu()
                draw_on(page, page.locator(canvas), STROKE_POINTS["1" if i % 2 == 0 else "7"], steps=10)
                released = time.perf_counter()
                page.locator(".st-key-prediction").wait_for(timeout=30_000)
                elapsed = time.perf_counter() - released
                page.locator(IDLE).wait_for(timeout=30_000)
                time.sleep(0.3)
                if i:  # the first stroke loads the canvas's scripts: a warm-up
                    out["stroke_s"].append(elapsed)
                    out["stroke_cpu_s"].append(server.cpu() - cpu)
        finally:
            browser.close()
    return {name: summary(xs) for name, xs in out.items()}


def record_strokes(cwd: Path) -> None:
    """Draws each stroke in Chromium and keeps the canvas value its websocket sent (``canvas_strokes.json``)."""
    from helpers import draw_on
    from playwright.sync_api import sync_playwright
    from streamlit.proto.BackMsg_pb2 import BackMsg
    recorded, requests, loaded = {}, [], None
    with Server(cwd) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for digit, points in STROKE_POINTS.items():
            sent = []
            page = browser.new_page(viewport={"width": 1280, "height": 3400})
            page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
            page.on("request", lambda r: requests.append(r.url) if r.method == "GET" else None)
            page.goto(server.url)
            page.locator(IDLE).wait_for(timeout=120_000)
            page.wait_for_load_state("networkidle")
            if loaded is None:  # a new visitor's page load: every file but the session's own images
                loaded = [u[len(server.url):] for u in requests if u.startswith(server.url) and "/media/" not in u]
            draw_on(page, page.locator(".st-key-draw canvas.upper-canvas"), points, steps=10)
            page.locator(".st-key-prediction").wait_for(timeout=60_000)
            for payload in reversed(sent):
                msg = BackMsg()
                msg.ParseFromString(payload)
                values = [w.json_value for w in msg.rerun_script.widget_states.widgets if w.id.endswith("-canvas-0")]
                if values and values[0]:
                    recorded[digit] = values[0]
                    break
            page.close()
        browser.close()
    RECORDED.write_text(json.dumps({"strokes": recorded, "page_load_requests": loaded}, indent=1) + "\n")
    print(f"recorded strokes {sorted(recorded)} and {len(loaded)} requests into {RECORDED.name}")


# the profile -----------------------------------------------------------------------------------------------------

PLUMBING = ("threading.py", "runpy", "click/", "script_runner.py", "exec_code.py", "metrics_util.py",
            "fragment.py", "bootstrap.py", "base_events.py", "events.py", "__main__.py", "process ")
BUCKETS = (("the training (its thread)", "mnist_core/jobs/"), ("the script's runs", "ScriptRunner._run_script "),
           ("the server's event loop (websocket, HTTP)", "_run_server_loop"))


def profile_summary(path: Path, top: int = 14) -> str:
    """py-spy's collapsed stacks as text: the share of samples in each part of the server (training, script
    runs, event loop), then the functions with the most samples in them or below (plumbing left out) and the
    functions the samples were in themselves."""
    inclusive, own, buckets, total = collections.Counter(), collections.Counter(), collections.Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n, frames = int(count), stack.split(";")
        total += n
        buckets[next((name for name, mark in BUCKETS if any(mark in f for f in frames)), "other")] += n
        names = [re.sub(r"\((?:.*site-packages/)?([^:]*):\d+\)", r"(\1)", f) for f in frames]
        for f in set(names):
            if not any(mark in f for mark in PLUMBING):
                inclusive[f] += n
        own[names[-1]] += n
    pct = lambda n: f"{100 * n / total:5.1f}%"  # noqa: E731
    lines = [f"{total} samples at 200 Hz"] + [f"  {pct(n)}  {name}" for name, n in buckets.most_common()]
    lines += ["in it or below:"] + [f"  {pct(n)}  {f}" for f, n in inclusive.most_common(top)]
    lines += ["in it itself:"] + [f"  {pct(n)}  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


# the report ------------------------------------------------------------------------------------------------------

def check(name: str, value: float, goal: float) -> str:
    return f"{value} (goal ≤ {goal}: {'met' if value <= goal else 'MISSED'})"


def markdown(report: dict) -> str:
    lines = [f"## {report['date']} — {report['commit']}" + (f" (before: {report['before']})" if report["before"]
                                                             else ""),
             "", f"{report['cpus']} CPU cores; load average at the start {report['load_average']}"
             + (" — the machine was shared with other work: the figures are noisy." if report["load_average"][0] > 1.5
                else ".") + (" Stopped before its end: the parts not shown were not measured." if report["stopped"]
                             else ""), ""]
    for side, r in report["sides"].items():
        lines += [f"### {side}", "", "| measure | value |", "|---|---|"]
        if "cpu" in r:
            c, t = r["cpu"], r["training"]
            for name in ("page_load_s", "train_s", "stroke_s"):
                lines.append(f"| server CPU per {name[:-2].replace('_', ' ')} (s) | median {c[name]['median']}, "
                             f"{c[name]['min']}–{c[name]['max']} |")
            lines += [f"| training's own CPU / wall (s) | {t['cpu_s']['median']} / {t['wall_s']['median']} |",
                      f"| per Train over the training's own CPU (s) | "
                      f"{check('', round(c['train_s']['median'] - t['cpu_s']['median'], 2), GOALS['train_over_training_s'])} |",
                      f"| per stroke (s) | {check('', c['stroke_s']['median'], GOALS['stroke_s'])} |",
                      f"| per page load (s) | {check('', c['page_load_s']['median'], GOALS['page_load_s'])} |",
                      f"| a student-minute (s) | {check('', c['student_minute_s'], GOALS['student_minute_s'])} |",
                      f"| idle server (CPU s per s) | {c['idle_s_per_s']} |"]
        if "memory" in r:
            m = r["memory"]
            lines += [f"| RSS per extra session (MB) | {check('', m['rss_per_session_mb'], GOALS['rss_per_session_mb'])} |",
                      f"| page's own RSS share (MB; {m['after_first_page_mb']} − bare torch {m['bare_torch_mb']}) | "
                      f"{check('', m['page_share_mb'], GOALS['page_share_mb'])} |"]
        for backend, l in r.get("load", {}).items():
            lines.append(f"| {l['sessions']} sessions press Train, {backend} | {l['failed']} failed; finished "
                         f"{l['first_finish_s']}–{l['last_finish_s']} s after the clicks (median "
                         f"{l['median_finish_s']}; last: {check('', l['last_finish_s'], GOALS['load_last_finish_s'])});"
                         f" server CPU {l['server_cpu_s']} s |")
        if "pinned" in r:
            p, t = r["pinned"], r["training_pinned"]
            lines += [f"| pinned: Train → finished page (s) | median {p['train_s']['median']} against the training's "
                      f"{t['wall_s']['median']} on one core: "
                      f"{check('', round(p['train_s']['median'] - t['wall_s']['median'], 2), GOALS['pinned_train_over_training_s'])} over |",
                      f"| pinned: stroke → prediction (s) | median {p['stroke_s']['median']}, max {p['stroke_s']['max']}:"
                      f" {check('', p['stroke_s']['median'], GOALS['pinned_stroke_s'])} |"]
        if "browser" in r:
            b = r["browser"]
            lines += [f"| Chromium: server CPU per Train / per stroke (s) | median {b['train_cpu_s']['median']} / "
                      f"{b['stroke_cpu_s']['median']} (the load client's check) |"]
        for part, error in r.get("failed_parts", {}).items():
            lines.append(f"| {part} | FAILED: {error} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def commit_of(cwd: Path) -> str:
    rev = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=cwd, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                           text=True).stdout.strip()
    return rev.strip()[:80] + (" (with uncommitted changes)" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", nargs="+", default=["cpu", "memory", "load", "pinned", "browser"],
                        choices=["cpu", "memory", "load", "pinned", "browser", "record"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--load", type=int, default=30, help="sessions pressing Train at once")
    parser.add_argument("--sessions-memory", type=int, default=10)
    parser.add_argument("--no-ray", action="store_true", help="the load with the thread backend only")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the server during the cpu part")
    parser.add_argument("--before", metavar="REV", help="also measure this git revision (checked out into a "
                        "temporary worktree)")
    args = parser.parse_args()
    if args.part == ["record"]:
        record_strokes(ROOT)
        return
    sides = {"now": ROOT}
    old = None
    if args.before:
        old = add_worktree(args.before)
        sides = {"before": old, "now": ROOT}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    report = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit_of(ROOT),
              "before": args.before, "cpus": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()],
              "sides": {name: {} for name in sides}, "stopped": False}
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a stopped run still records what it measured
    try:
        for name, cwd in sides.items():
            r = report["sides"][name]
            for part in [p for p in ("cpu", "memory", "load", "pinned", "browser") if p in args.part]:
                try:
                    run_part(part, r, cwd, args, profile=args.profile if name == "now" else None)
                except Exception as exc:  # the run is still recorded, with what failed
                    r.setdefault("failed_parts", {})[part] = f"{exc.__class__.__name__}: {str(exc)[:300]}"
                print(name, part, json.dumps({k: v for k, v in r.items() if k.startswith(part) or
                                              k in ("training", "training_pinned", "failed_parts")}), flush=True)
    except KeyboardInterrupt:
        report["stopped"] = True
    finally:
        if old is not None:
            remove_worktree(old)
        record(report)
    if args.profile:
        for action in ("page_load", "train", "stroke"):
            path = args.profile / f"{action}.txt"
            if path.exists():
                print(f"\n{action}: {profile_summary(path)}")


def record(report: dict) -> None:
    text = markdown(report)
    print(text)
    if not RESULTS.exists():
        RESULTS.write_text("# Capacity: every run of bench_capacity.py\n\n")
    with RESULTS.open("a") as f:
        f.write(text + "\n<details><summary>raw</summary>\n\n```json\n" + json.dumps(report, indent=1)
                + "\n```\n</details>\n\n")


def run_part(part: str, r: dict, cwd: Path, args, profile: Path | None) -> None:
    if part == "cpu":
        r["training"] = training_self(cwd, args.reps)
        with Server(cwd) as server:
            r["cpu"] = asyncio.run(cpu_part(server, args.reps))
            if profile:
                asyncio.run(profile_part(server, args.reps, profile))
    elif part == "memory":
        r["memory"] = asyncio.run(memory_part(cwd, args.sessions_memory))
    elif part == "load":
        r["load"] = {"thread": asyncio.run(load_part(cwd, args.load))}
        if not args.no_ray and _has_ray():
            r["load"]["ray"] = asyncio.run(load_part(cwd, args.load, {"MNIST_BACKEND": "ray"}))
    elif part == "pinned":
        r["training_pinned"] = training_self(cwd, args.reps, cores="1")
        r["pinned"] = browser_part(cwd, args.reps, {"browser": "0", "server": "1"})
    elif part == "browser":
        r["browser"] = browser_part(cwd, args.reps)


def _has_ray() -> bool:
    import importlib.util
    return importlib.util.find_spec("ray") is not None


if __name__ == "__main__":
    main()
