"""Training beside the page: what an in-process (thread) training pays, and the page settings that matter.

1. The tutorial's 10 epochs on the main thread against a background thread of the same process.
2. In a background thread while another thread does page-like Python work (building a Plotly figure
   every 10 ms), at Python's default GIL switch interval (5 ms) and at 0.5 ms, as the page sets it.
3. The real page: `streamlit run`, Chromium presses Train three times; the run's training seconds as
   the page reports them, with Streamlit's post-run garbage collection on (its default) and off (ours).

    MNIST_DATA_DIR=../shared/datasets python benchmarks/bench_thread.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]
RUNS = 3


def thread_cost() -> dict:
    from dashboard import charts
    from mnist_core import TrainConfig, load_mnist, train
    data = load_mnist()

    def once() -> float:
        return train(TrainConfig(), data).train_seconds

    def in_thread(busy=None) -> float:
        out = []
        worker = threading.Thread(target=lambda: out.append(once()))
        worker.start()
        while worker.is_alive():
            busy() if busy else time.sleep(0.05)
        worker.join()
        return out[0]

    def page_work():
        charts.live_figure([1.0, 0.8, 0.7], [0.8, 0.9, 0.91], 10)
        time.sleep(0.01)

    once()  # warm-up, not counted
    result = {"main_thread_s": [once() for _ in range(RUNS)], "background_thread_s": [in_thread() for _ in range(RUNS)]}
    default = sys.getswitchinterval()
    result["beside_page_work_5ms_s"] = [in_thread(page_work) for _ in range(RUNS)]
    sys.setswitchinterval(0.0005)
    result["beside_page_work_0.5ms_s"] = [in_thread(page_work) for _ in range(RUNS)]
    sys.setswitchinterval(default)
    return {k: {"runs": [round(x, 2) for x in v], "median": round(statistics.median(v), 2)} for k, v in result.items()}


def in_page(post_script_gc: bool) -> dict:
    import subprocess

    from playwright.sync_api import sync_playwright

    from helpers import CHROMIUM, free_port, wait_idle
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             f"--runner.postScriptGC={str(post_script_gc).lower()}"], cwd=HERE.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = []
    try:
        import urllib.request
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                   "--disable-background-networking"])
            page = b.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(f"http://127.0.0.1:{port}")
            wait_idle(page)
            for n in range(1, RUNS + 2):
                page.get_by_role("button", name="Train", exact=True).click()
                page.get_by_text(f"Classified by run #{n} ").wait_for(timeout=120_000)
                value = page.locator("[data-testid=stMetric]", has_text="Training time").locator(
                    "[data-testid=stMetricValue]").inner_text()
                if n > 1:  # the first also loads MNIST: a warm-up
                    seconds.append(float(value.split()[0]))
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"runs": seconds, "median": round(statistics.median(seconds), 2)}


def main() -> None:
    out = {"cpus": os.cpu_count(), "threads": thread_cost(),
           "page_training_s": {"postScriptGC on (Streamlit's default)": in_page(True),
                               "postScriptGC off (.streamlit/config.toml)": in_page(False)}}
    (HERE / "results" / "thread.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
