"""The page in a real browser: `streamlit run` + Debian's Chromium driven by Playwright.

Trains with the sidebar's Train button, then draws digits on the canvas with the
mouse and reads the prediction. Set MNIST_SCREENSHOT=path to save a picture of
the page (the README's screenshot is made this way).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, as_jpeg, number_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed (apt-get install chromium)")


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
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"streamlit did not start: {proc.stderr.read()[-2000:]}")


@pytest.fixture(scope="module")
def server(mnist_root):
    url, proc = start_server(mnist_root)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def wait_idle(page):
    """Until the script run (and so every element it draws) has finished."""
    page.locator('[data-test-script-state="notRunning"]').wait_for(timeout=120_000)


def draw(page, strokes):
    """Each stroke: a list of (x, y) in canvas pixels (0-280), drawn with the mouse on the "Draw a digit" canvas."""
    wait_idle(page)
    # Images above the canvas load after the script ends and push it down: wait until they are in.
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=30_000)
    draw_on(page, page.locator(".st-key-draw canvas.upper-canvas"), strokes, steps=10)


def prediction(page, previous=None, timeout=30):
    digit = page.locator(".st-key-prediction")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if digit.count() and digit.inner_text().strip() and digit.inner_text().strip() != previous:
            return digit.inner_text().strip()
        time.sleep(0.2)
    raise AssertionError("no prediction appeared")


def test_train_then_draw(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(server)
    page.get_by_role("button", name="Train", exact=True).click()
    accuracy = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator("[data-testid=stMetricValue]")
    accuracy.wait_for(timeout=120_000)
    assert 88 < float(accuracy.inner_text().rstrip("%")) < 93
    expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)

    draw(page, [[(140, 40), (140, 240)]])                                  # a "1"
    assert prediction(page) == "1"
    expect(page.locator(".st-key-draw .barlayer .point")).to_have_count(10, timeout=30_000)
    inside = page.locator(".st-key-inside")                                # the linear model's inside views
    expect(inside.get_by_text("Evidence.")).to_be_visible(timeout=30_000)
    expect(inside.get_by_text("votes for 1")).to_be_visible()
    expect(inside.get_by_text("Attribution")).to_be_visible()
    expect(inside.get_by_text("The model's map of 2,000 test digits (class scores, PCA)")).to_be_visible()
    if os.environ.get("MNIST_SCREENSHOT"):
        page.screenshot(path=os.environ["MNIST_SCREENSHOT"], full_page=True)

    page.get_by_role("button", name="Clear").click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
    draw(page, [[(60, 50), (220, 50), (120, 250)]])                        # a "7"
    assert prediction(page) == "7"
    expect(page.locator(".st-key-draw .barlayer .point")).to_have_count(10, timeout=30_000)
    page.close()


def test_the_page_stays_usable_while_a_cnn_trains(server, browser):
    """Moving a slider and drawing during a cnn-fast training: the training goes on to the end."""
    from playwright.sync_api import expect
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(f"{server}/?model=cnn")                                     # the cnn-fast preset: 2 epochs, lr 0.01
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Training run #1").wait_for(timeout=120_000)
    thumb = page.locator(".st-key-lr input[type=range]")
    thumb.focus()
    page.keyboard.press("ArrowLeft")                                      # lr 0.01 -> 0.005
    expect(page).to_have_url(re.compile(r"lr=0\.005"), timeout=30_000)
    draw(page, [[(140, 40), (140, 240)]])                                 # a "1", read by the shipped model
    assert prediction(page) == "1"
    expect(page.locator(".st-key-inside").get_by_text("Block 3: 3×3")).to_be_visible(timeout=30_000)  # the CNN's maps
    assert page.get_by_text("Training run #1").count() or page.get_by_text("Test accuracy").count()
    accuracy = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator("[data-testid=stMetricValue]")
    accuracy.wait_for(timeout=300_000)
    assert float(accuracy.inner_text().rstrip("%")) > 98
    expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)
    assert page.get_by_text("was stopped after").count() == 0             # it ran to its end
    page.close()


def test_stop_keeps_the_model_and_it_classifies_drawings(server, browser):
    from playwright.sync_api import expect
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(f"{server}/?model=cnn&epochs=10")
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=300_000)  # epoch 1 drawn
    page.get_by_role("button", name="Stop training").click()
    expect(page.get_by_text("was stopped after")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"Classified by run #\d+ \(9\d\.\d\d% on the test set\)"))).to_be_visible(
        timeout=60_000)
    draw(page, [[(140, 40), (140, 240)]])                                 # a "1"
    assert prediction(page) == "1"
    page.close()


def test_upload_a_photo_of_a_number(server, browser, mnist, tmp_path):
    from playwright.sync_api import expect

    photo = tmp_path / "2024.jpg"
    photo.write_bytes(as_jpeg(number_photo(mnist, "2024")))
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    page.goto(server)
    wait_idle(page)
    page.locator(".st-key-photos input[type=file]").set_input_files(str(photo))
    number = page.locator("[class*=st-key-number-] span")
    expect(number).to_have_text("2024", timeout=60_000)
    page.close()


def draw_on(page, canvas, strokes, steps=3):
    """Draw ``strokes`` with the mouse on ``canvas`` once it stays put, ``steps`` mouse moves per segment."""
    canvas.scroll_into_view_if_needed()
    box, previous = canvas.bounding_box(), None
    while box != previous:
        time.sleep(0.2)
        box, previous = canvas.bounding_box(), box
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for t in range(1, steps + 1):
                page.mouse.move(box["x"] + x0 + (x1 - x0) * t / steps, box["y"] + y0 + (y1 - y0) * t / steps)
        page.mouse.up()


def teach(page, hand, rounds, seed=0):
    """Draw ``rounds`` examples of each digit in the handwriting section, as the page asks for them."""
    import numpy as np
    from playwright.sync_api import expect
    rng = np.random.default_rng(seed)
    section = page.locator(".st-key-handwriting")
    for n in range(rounds * 10):
        wait_idle(page)
        asked = section.get_by_text(re.compile(r"Draw a \d")).inner_text()
        digit = int(re.search(r"Draw a (\d)", asked).group(1))
        canvas = section.locator("canvas.upper-canvas")
        expect(canvas).to_have_count(1)
        time.sleep(0.3)                                   # the new canvas has mounted: let it take strokes
        draw_on(page, canvas, hand.strokes(digit, rng))
        time.sleep(1.0)                                   # the canvas sends its drawing a moment after the stroke
        section.get_by_role("button", name=f"Add as {digit}").click()
        expect(section.get_by_text(f"({n + 1} example")).to_be_visible(timeout=30_000)


def test_teach_it_your_handwriting(server, browser):
    from playwright.sync_api import expect

    from hands import HANDS
    page = browser.new_page(viewport={"width": 1280, "height": 3000})
    page.goto(server)
    page.get_by_role("button", name="Train", exact=True).click()                  # the tutorial's linear model
    expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=120_000)
    wait_idle(page)
    teach(page, HANDS["slanted-bold"], rounds=2)
    section = page.locator(".st-key-handwriting")
    expect(section.get_by_text("Read right by the current model")).to_be_visible()
    with page.expect_download() as download:
        section.get_by_role("button", name="Download my digits (.npz)").click()
    from mnist_core.handwriting import load_examples
    images, labels = load_examples(download.value.path())
    assert images.shape == (20, 28, 28) and sorted(labels) == sorted(list(range(10)) * 2)
    section.get_by_role("button", name="Fine-tune on my handwriting").click()
    held = section.locator("[data-testid=stMetric]", has_text="held-out drawings")
    held.wait_for(timeout=240_000)
    assert re.search(r"\d+ of 10", held.inner_text())
    expect(section.locator("[data-testid=stMetric]", has_text="MNIST test set")).to_contain_text("vs before")
    expect(page.get_by_text("Classified by run #2")).to_be_visible(timeout=30_000)   # the fine-tuned run
    page.close()


def stop_server(proc) -> None:
    proc.terminate()
    proc.wait(timeout=20)


def test_runs_survive_reload_and_restart_and_travel_by_link(mnist_root, browser, tmp_path):
    """Train; reload; restart the server; open the share link in a second browser; download the checkpoint."""
    from playwright.sync_api import expect

    from mnist_core import load_checkpoint
    env = {"MNIST_STATE_DIR": str(tmp_path / "state")}
    url, proc = start_server(mnist_root, env)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 3000})
        page.goto(url)
        page.get_by_role("button", name="Train", exact=True).click()
        accuracy = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator(
            "[data-testid=stMetricValue]")
        accuracy.wait_for(timeout=120_000)
        shown = accuracy.inner_text()
        expect(page).to_have_url(re.compile(r"[?&]ws=[\w-]{22}"))
        query = page.url.split("?", 1)[1]
        page.reload()                                                          # a reload: the run is there
        expect(accuracy).to_have_text(shown, timeout=60_000)
        expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.get_by_text("Share, download or remove a run").click()
        page.get_by_role("button", name="Share", exact=True).click()
        link = page.locator("[data-testid=stCode] code").first
        expect(link).to_contain_text("?run=", timeout=30_000)
        token = link.inner_text().strip().rsplit("?run=", 1)[1]
        assert token not in query
        page.get_by_role("button", name="Download", exact=True).click()
        with page.expect_download() as download:
            page.get_by_role("button", name="Checkpoint (.pt)").click()
        model, info = load_checkpoint(download.value.path())
        assert model.registry_name == "linear" and info["config"].epochs == 10
        page.close()
    finally:
        stop_server(proc)

    url, proc = start_server(mnist_root, env)                                 # a restarted server
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 3000})
        page.goto(f"{url}/?{query}")
        accuracy = page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator(
            "[data-testid=stMetricValue]")
        expect(accuracy).to_have_text(shown, timeout=60_000)
        page.close()
        other = browser.new_context(viewport={"width": 1280, "height": 3000})  # someone else, with the link
        viewer = other.new_page()
        viewer.goto(f"{url}/?run={token}")
        expect(viewer.locator("[data-testid=stMetric]", has_text="Test accuracy").locator(
            "[data-testid=stMetricValue]")).to_have_text(shown, timeout=60_000)
        expect(viewer.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)
        draw(viewer, [[(140, 40), (140, 240)]])                                # a "1", read by the shared model
        assert prediction(viewer) == "1"
        assert viewer.get_by_role("button", name="Remove").count() == 0
        assert viewer.get_by_role("button", name="Train", exact=True).count() == 0
        other.close()
    finally:
        stop_server(proc)
