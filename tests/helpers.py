"""What the tests share besides fixtures (those are in conftest.py): one module, so no test module imports another.

- paths: ROOT, the checkout; real MNIST, downloaded when missing, a failure under CI when it cannot be had;
- photos: MNIST test digits written as a number on paper, as a camera would hand it over;
- scripted handwriting: digits as mouse strokes on the page's 280x280 canvas, in distinct "hands";
- the command line: ``python -m mnist_core`` in a subprocess, or its ``main`` in this process;
- data files: MNIST's raw files copied into a scratch folder;
- the page in a browser: ``streamlit run`` on a free port, and the mouse and waits that drive it.

The benchmarks use the handwriting and browser parts too (benchmarks/bench_handwriting.py and others).
"""

from __future__ import annotations

import copy
import inspect
import io
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from torch import nn

from mnist_core import TrainConfig, build_model, load_checkpoint, predict, save_checkpoint
from mnist_core import explain as E
from mnist_core.jobs import JobResult
from mnist_core.models import model_spec, to_input

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- real MNIST

def real_mnist() -> tuple[Path, object]:
    """(root, data): real MNIST from $MNIST_DATA_DIR (set by .ci/run), else from MNIST_data/ in the checkout,
    loaded by load_mnist itself: downloaded there once when missing, as the page does, and checked.

    Data that cannot be had fails the calling test under CI (CI=true): a CI run that skipped half the suite
    would pass without testing it. Elsewhere the test is skipped, saying why.
    """
    from mnist_core import DataError, load_mnist
    from mnist_core.data import DATA_DIR_ENV, DEFAULT_ROOT
    root = Path(os.environ.get(DATA_DIR_ENV) or ROOT / DEFAULT_ROOT).resolve()
    try:
        return root, load_mnist(root)
    except DataError as exc:
        why = f"real MNIST could not be loaded from {root} ({exc})"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{why}. Under CI this is a failure, not a skip: point {DATA_DIR_ENV} at the folder "
                        "holding MNIST/raw/, or let the machine reach the download mirrors.", pytrace=False)
        pytest.skip(f"{why}; set {DATA_DIR_ENV} to the folder holding MNIST/raw/")


# ---------------------------------------------------------------- photos

def number_photo(mnist, digits: str, scale: int = 6) -> Image.Image:
    """A number written with MNIST test digits side by side, dark ink on light grey paper."""
    labels = mnist.test_labels.numpy()
    row = np.concatenate([mnist.test_images[int(np.nonzero(labels == int(d))[0][i])].numpy()
                          for i, d in enumerate(digits)], axis=1)
    big = Image.fromarray(255 - row).resize((row.shape[1] * scale, 28 * scale), Image.BICUBIC)
    paper = Image.new("L", (big.width + 100, big.height + 80), 230)
    paper.paste(big, (50, 40))
    return paper


def as_jpeg(image: Image.Image, quality: int = 75) -> bytes:
    """The image slightly blurred and saved as a JPEG file, as a camera would hand it over."""
    buf = io.BytesIO()
    image.convert("RGB").filter(ImageFilter.GaussianBlur(1)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# ---------------------------------------------------------------- scripted handwriting
# A hand sets the slant, size, stroke doubling (a bolder pen) and a few letter shapes (a 1 with a flag and
# a base, a crossed 7, an open 4); each example gets its own small random jitter, as a person's digits do.

def _arc(cx, cy, rx, ry, start, end, n=14):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


# Strokes in a unit box: x right 0..1, y down 0..1.
PLAIN = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, -90, 270, 24)],
    1: [[(0.52, 0.05), (0.5, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 200, 380, 12) + [(0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.48, 0.28, 0.28, 0.23, 200, 450, 12), _arc(0.48, 0.72, 0.3, 0.23, -90, 160, 12)],
    4: [[(0.65, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.95)]],
    5: [[(0.8, 0.05), (0.28, 0.05), (0.24, 0.45)] + _arc(0.48, 0.67, 0.3, 0.28, -140, 150, 12)],
    6: [[(0.7, 0.05), (0.35, 0.35)] + _arc(0.5, 0.7, 0.28, 0.26, 200, 560, 18)],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.24, 0.22, 90, 450, 16), _arc(0.5, 0.72, 0.3, 0.24, -90, 270, 18)],
    9: [_arc(0.5, 0.3, 0.28, 0.25, 0, 360, 16) + [(0.78, 0.3), (0.72, 0.95)]],
}
CONTINENTAL = {
    **PLAIN,
    1: [[(0.3, 0.25), (0.55, 0.05), (0.55, 0.95)], [(0.3, 0.95), (0.8, 0.95)]],
    7: [[(0.15, 0.12), (0.85, 0.05), (0.45, 0.95)], [(0.35, 0.5), (0.8, 0.5)]],
    4: [[(0.35, 0.05), (0.2, 0.6), (0.85, 0.6)], [(0.7, 0.3), (0.7, 0.95)]],
}


@dataclass(frozen=True)
class Hand:
    name: str
    shapes: dict
    slant: float        # shear: x moves by slant * (0.5 - y)
    size: float         # of the canvas side
    bold: bool          # each stroke drawn twice, a little apart
    jitter: float       # per-point noise, in unit-box units
    width: float = 0.8  # of the height

    def strokes(self, digit: int, rng: np.random.Generator, side: int = 280) -> list[list[tuple[float, float]]]:
        """The digit as canvas-pixel strokes, with this example's own jitter, size and position."""
        size = self.size * side * rng.uniform(0.9, 1.1)
        ox = (side - size * self.width) / 2 + rng.uniform(-0.06, 0.06) * side
        oy = (side - size) / 2 + rng.uniform(-0.06, 0.06) * side
        out = []
        for stroke in self.shapes[digit]:
            pts = []
            for x, y in stroke:
                x, y = x + rng.normal(0, self.jitter), y + rng.normal(0, self.jitter)
                x += self.slant * (0.5 - y)
                pts.append((ox + x * size * self.width, oy + y * size))
            out.append(pts)
            if self.bold:
                out.append([(x + 9, y + 5) for x, y in pts])
        return [[(min(max(x, 2), side - 2), min(max(y, 2), side - 2)) for x, y in s] for s in out]


HANDS = {
    "upright": Hand("upright", PLAIN, slant=0.0, size=0.8, bold=False, jitter=0.015),
    "slanted-bold": Hand("slanted-bold", CONTINENTAL, slant=0.9, size=0.5, bold=True, jitter=0.03),
    "wide-round": Hand("wide-round", CONTINENTAL, slant=-0.3, size=0.55, bold=True, jitter=0.03, width=1.3),
}


def render(strokes, side: int = 280, width: int = 18) -> np.ndarray:
    """Strokes drawn as the page's canvas draws them (white, round, ``width`` px on black): RGBA (side, side, 4)."""
    from PIL import Image, ImageDraw
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        pen.line(stroke, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in stroke:
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=(255, 255, 255, 255))
    return np.array(image)


def examples(hand: Hand, per_digit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_digit`` rounds of 0-9 in ``hand``, through the page's preprocessing (to_mnist)."""
    from mnist_core import to_mnist
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10), per_digit)
    return np.stack([to_mnist(render(hand.strokes(int(d), rng))) for d in labels]), labels


# ---------------------------------------------------------------- the command line

def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m mnist_core`` as a user runs it: a fresh interpreter (3-5 s of Python and torch imports)."""
    return subprocess.run([sys.executable, "-m", "mnist_core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_main(capsys, *args) -> subprocess.CompletedProcess:
    """``mnist_core.__main__.main`` in this process, read like :func:`run_cli`: its exit status (returned or
    by ``SystemExit``), stdout and stderr. For refusals and short runs, without an interpreter's start."""
    from mnist_core.__main__ import main
    capsys.readouterr()  # what came before is not this run's output
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["main", *args], code, out, err)


# ---------------------------------------------------------------- data files

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def copy_raw(src_root, dst_root, suffix=""):
    """MNIST's four raw files (``suffix=".gz"``: their gzipped copies) under ``dst_root/MNIST/raw``."""
    raw = dst_root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(src_root / "MNIST" / "raw" / (name + suffix), raw / (name + suffix))
    return raw


# ---------------------------------------------------------------- the page headless (AppTest)

def visit(query: dict, timeout: float = 60):
    """A new visitor opening the page at an address with ``query``: the page once run, without a traceback."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    return at


# ---------------------------------------------------------------- the page in a browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(mnist_root, env: dict | None = None):
    """`streamlit run` on a free port; returns (url, process) once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, "MNIST_DATA_DIR": str(mnist_root), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return url, proc
        except OSError:
            time.sleep(0.3)  # the server is still starting: nothing in a page to wait on yet
    proc.kill()
    pytest.fail(f"streamlit did not start: {proc.stderr.read()[-2000:]}")


def stop_server(proc) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def wait_idle(page):
    """Until the script run (and so every element it draws) has finished."""
    page.locator('[data-test-script-state="notRunning"]').wait_for(timeout=120_000)


PAGE_PATHS = {"Train": "", "Inside the model": "inside", "Your handwriting": "handwriting", "Runs": "runs"}


def go_to(page, title: str) -> None:
    """Open one of the app's pages by its title in the top bar (``st.navigation``), as a visitor does."""
    page.get_by_role("link", name=title, exact=True).click()
    page.wait_for_url(re.compile(rf"^https?://[^/]+/{PAGE_PATHS[title]}/?(\?|$)"), timeout=30_000)
    wait_idle(page)


def draw(page, strokes):
    """Each stroke: a list of (x, y) in canvas pixels (0-280), drawn with the mouse on the "Draw a digit" canvas."""
    wait_idle(page)
    # Images above the canvas load after the script ends and push it down: wait until they are in.
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=30_000)
    draw_on(page, page.locator(".st-key-draw canvas.upper-canvas"), strokes, steps=10)


def prediction(page, previous=None, timeout=30):
    """The digit the page reads from the canvas, once it shows one (other than ``previous``)."""
    from playwright.sync_api import expect
    digit = page.locator(".st-key-prediction")
    expect(digit).to_have_text(re.compile(r"\S"), timeout=timeout * 1000)
    if previous is not None:
        expect(digit).not_to_have_text(previous, timeout=timeout * 1000)
    return digit.inner_text().strip()


# Until the element has kept its place for ten frames (images and charts above it still moving it).
_SETTLED = """el => new Promise(done => {
    let last = null, same = 0;
    const look = () => {
        const r = el.getBoundingClientRect(), now = [r.x, r.y, r.width, r.height].join();
        same = now === last ? same + 1 : 0;
        last = now;
        same >= 10 ? done() : requestAnimationFrame(look);
    };
    look();
})"""


def draw_on(page, canvas, strokes, steps=3):
    """Draw ``strokes`` with the mouse on ``canvas`` once it stays put, ``steps`` mouse moves per segment."""
    canvas.scroll_into_view_if_needed()
    canvas.evaluate(_SETTLED)
    box = canvas.bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for t in range(1, steps + 1):
                page.mouse.move(box["x"] + x0 + (x1 - x0) * t / steps, box["y"] + y0 + (y1 - y0) * t / steps)
        page.mouse.up()


# The canvas component sends its drawing 200 ms after the last stroke (each stroke restarts that wait),
# reading the picture with toDataURL just before. Both moments are taken in the page, so a slow round trip
# from here cannot make a send look earlier than the stroke it follows.
_WATCH_SENDS = """() => {
    if (window.__canvasSent !== undefined) return;
    window.__canvasSent = -1;
    window.__strokeEnded = 0;
    const ended = () => { window.__strokeEnded = performance.now(); };
    window.addEventListener("pointerup", ended, true);
    window.addEventListener("mouseup", ended, true);
    const read = HTMLCanvasElement.prototype.toDataURL;
    HTMLCanvasElement.prototype.toDataURL = function (...args) {
        window.__canvasSent = performance.now();
        return read.apply(this, args);
    };
}"""


def draw_and_send(page, canvas, strokes, steps=3):
    """:func:`draw_on`, then wait until the canvas has sent the whole drawing (a click before that would
    hand the page an empty or unfinished one)."""
    page.evaluate(_WATCH_SENDS)
    draw_on(page, canvas, strokes, steps)
    page.wait_for_function("() => window.__canvasSent > window.__strokeEnded", timeout=30_000)


def teach(page, hand, rounds, seed=0):
    """Draw ``rounds`` examples of each digit in the handwriting section, as the page asks for them."""
    from playwright.sync_api import expect
    rng = np.random.default_rng(seed)
    section = page.locator(".st-key-handwriting")
    for n in range(rounds * 10):
        wait_idle(page)
        asked = section.get_by_text(re.compile(r"Draw a \d")).inner_text()
        digit = int(re.search(r"Draw a (\d)", asked).group(1))
        canvas = section.locator("canvas.upper-canvas")
        expect(canvas).to_have_count(1)
        draw_and_send(page, canvas, hand.strokes(digit, rng))
        section.get_by_role("button", name=f"Add as {digit}").click()
        expect(section.get_by_text(f"({n + 1} example")).to_be_visible(timeout=30_000)


# ---------------------------------------------------------------- per-model checks
# Each test file's per-model test runs these for every registered model; test_models.py runs them for a model
# registered for the length of one test.

def a_digit(seed=0) -> np.ndarray:
    """A bright vertical stroke with a little noise: digit-like uint8 (28, 28)."""
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 12:16] = 255
    img[np.random.default_rng(seed).random((28, 28)) < 0.02] = 128
    return img

def mode_dependent(name):
    """The model with every layer whose result depends on the mode at work: dropout where it takes one."""
    torch.manual_seed(0)
    takes_dropout = "dropout" in inspect.signature(model_spec(name).build).parameters
    return build_model(name, **({"dropout": 0.5} if takes_dropout else {}))

def round_trips(name, tmp_path):
    """A registered model saved and loaded predicts the same, with its config and metrics."""
    torch.manual_seed(1)
    model = build_model(name).eval()
    config = TrainConfig(model=name, lr=0.05)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, config, metrics={"test_accuracy": 0.9})
    loaded, info = load_checkpoint(path, device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(predict(loaded, images), predict(model, images), rtol=1e-6)
    assert info["config"] == config and info["metrics"]["test_accuracy"] == 0.9
    assert loaded.registry_name == name

def shows_its_inside(name):
    """The inside views of a registered model for a digit, its mode and weights left alone."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = E.inside(model, a_digit())
    assert out["kind"] == {"linear": "linear", "mlp": "mlp", "cnn": "cnn"}.get(name, out["kind"])
    assert out["probabilities"].shape == (10,) and np.isclose(out["probabilities"].sum(), 1, atol=1e-5)
    assert out["attribution"].shape == (28, 28) and np.isfinite(out["attribution"]).all()
    view = out["view"]
    if out["kind"] == "linear":
        assert view["maps"].shape == (2, 28, 28)
    elif out["kind"] == "mlp":
        assert view["weights"].shape[1:] == (28, 28) and np.all(np.diff(view["activations"]) <= 0)
    else:
        assert view[0]["maps"].shape[0] == view[0]["total_channels"]      # every channel of the first block
        assert all(b["maps"].ndim == 3 and np.isfinite(b["maps"]).all() for b in view)
    feats = E.embedding(model, torch.as_tensor(np.stack([a_digit(s) for s in range(5)])))
    assert feats.ndim == 2 and feats.shape[0] == 5 and np.isfinite(feats).all()
    assert not model.training                                                # its mode left alone
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())   # and its weights

def explains_as_in_eval_mode(name):
    """A model in train mode (one being trained, say) is explained as in eval mode, and stays in train mode."""
    model = mode_dependent(name).eval()
    img, batch = a_digit(), torch.as_tensor(np.stack([a_digit(s) for s in range(4)]))
    want, want_features = E.inside(model, img), E.embedding(model, batch)
    with torch.inference_mode():
        want_logits = model(to_input(batch))
    model.train()
    if any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules()):
        with torch.inference_mode():
            assert not torch.allclose(copy.deepcopy(model)(to_input(batch)), want_logits)  # the mode matters here
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = E.inside(model, img)
    assert np.allclose(got["probabilities"], want["probabilities"], atol=1e-6)
    assert np.allclose(got["attribution"], want["attribution"], atol=1e-6)
    assert np.allclose(E.embedding(model, batch), want_features, atol=1e-5)
    for _ in range(2):   # the same answer every time: no dropout drawn, no batch statistics
        assert np.allclose(E.trace(model, batch).logits.numpy(), want_logits.numpy(), atol=1e-5)
    assert model.training and all(m.training for m in model.modules())                # its mode left alone
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())      # running statistics too


# ---------------------------------------------------------------- the thread backend's queue, without training

class HeldRuns:
    """A worker body that reports running, then holds its slot until :meth:`release` or Stop, for the trainings
    submitted while it is in place (:meth:`submitted`); any other backend's training (one a page test left
    queued) runs as it would have."""

    def __init__(self, real):
        self.ran: list = []   # the configs, in the order they started
        self.running = threading.Semaphore(0)
        self._release = threading.Event()
        self._real, self._jobs = real, []

    def submitted(self, job) -> None:
        self._jobs.append(job)

    def __call__(self, config, spec, report, *, worker, loading_note, should_stop, start=None):
        if not any(config is job.config for job in self._jobs):
            return self._real(config, spec, report, worker=worker, loading_note=loading_note,
                              should_stop=should_stop, start=start)
        report.mark_running("cpu", worker, loading_note)
        self.ran.append(config)
        self.running.release()
        deadline = time.monotonic() + 10
        while not self._release.wait(0.02) and time.monotonic() < deadline:
            if should_stop():                                  # Stop ends it, as it ends a real training
                return JobResult("stopped", device="cpu", worker=worker)
        return JobResult("completed", device="cpu", worker=worker)

    def wait_running(self):
        assert self.running.acquire(timeout=10), "no training started"

    def release(self):
        self._release.set()

    def end(self):
        """Release the held trainings and stop the queued ones, so none outlives its test."""
        self.release()
        for job in self._jobs:
            job.stop()
