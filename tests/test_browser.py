"""The pages in a real browser: `streamlit run` + Debian's Chromium driven by Playwright.

Trains with the sidebar's Train button, draws digits on the canvas with the mouse and reads the prediction,
then goes to the other pages (Inside the model, Your handwriting, Runs) by the top bar, as a visitor does.
Each test is one visitor's journey; the page's logic is tested without a browser (AppTest), so these check
what only a browser shows: the canvas, the pages' links, downloads, a reload, a restart. Set
MNIST_SCREENSHOT=path to save a picture of the Train page (the README's screenshot is made this way).
"""

import os
import re

import pytest

from helpers import (
    CHROMIUM, HANDS, as_jpeg, draw, go_to, number_photo, prediction, start_server, stop_server, teach,
)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server(mnist_root):
    url, proc = start_server(mnist_root)
    yield url
    stop_server(proc)


def accuracy_of(page):
    return page.locator("[data-testid=stMetric]", has_text="Test accuracy").locator("[data-testid=stMetricValue]")


def test_train_draw_and_look_inside(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(server)
    page.get_by_role("button", name="Train", exact=True).click()
    accuracy_of(page).wait_for(timeout=120_000)
    assert 88 < float(accuracy_of(page).inner_text().rstrip("%")) < 93
    expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)

    draw(page, [[(140, 40), (140, 240)]])                                  # a "1"
    assert prediction(page) == "1"
    expect(page.locator(".st-key-draw .barlayer .point")).to_have_count(10, timeout=30_000)
    if os.environ.get("MNIST_SCREENSHOT"):
        page.screenshot(path=os.environ["MNIST_SCREENSHOT"], full_page=True)
    page.get_by_role("button", name="Clear", exact=True).click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
    draw(page, [[(60, 50), (220, 50), (120, 250)]])                        # a "7"
    assert prediction(page) == "7"

    go_to(page, "Inside the model")                                        # the linear model, for the drawn 7
    inside = page.locator(".st-key-inside")
    expect(inside.get_by_text("Evidence.")).to_be_visible(timeout=30_000)
    expect(inside.get_by_text("votes for 7")).to_be_visible()
    expect(inside.get_by_text("Attribution")).to_be_visible()
    expect(inside.get_by_text("The model's map of 2,000 test digits (class scores, PCA)")).to_be_visible()
    assert re.search(r"[?&]ws=[\w-]{22}", page.url)                         # the workspace travels with the pages
    page.close()


def test_the_page_stays_usable_while_a_cnn_trains_and_stop_keeps_its_model(server, browser):
    """Moving a slider and drawing during a cnn training leave it training; Stop ends it within a batch, and
    the stopped run keeps its model, which then reads drawings."""
    from playwright.sync_api import expect
    page = browser.new_page(viewport={"width": 1280, "height": 3400})
    page.goto(f"{server}/?model=cnn&epochs=10&width=8")                   # the cnn-fast preset, smallest width
    page.get_by_role("button", name="Train", exact=True).click()
    running = page.get_by_text(re.compile(r"^Training run #\d+: cnn"))
    running.wait_for(timeout=120_000)
    thumb = page.locator(".st-key-lr input[type=range]")
    thumb.focus()
    page.keyboard.press("ArrowLeft")                                      # lr 0.01 -> 0.005
    expect(page).to_have_url(re.compile(r"lr=0\.005"), timeout=30_000)
    draw(page, [[(140, 40), (140, 240)]])                                 # a "1", read by the shipped model
    assert prediction(page) == "1"
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=300_000)  # epoch 1 drawn
    expect(running).to_be_visible()                                       # the clicks did not end it
    page.get_by_role("button", name="Stop training").click()
    expect(page.get_by_text("was stopped after")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"Classified by run #\d+ \(9\d\.\d\d% on the test set\)"))).to_be_visible(
        timeout=60_000)
    page.get_by_role("button", name="Clear", exact=True).click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
    draw(page, [[(140, 40), (140, 240)]])                                 # a "1", read by the stopped run's cnn
    assert prediction(page) == "1"
    page.close()


def test_teach_it_your_handwriting_and_read_a_photo(server, browser, mnist, tmp_path):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 3000})
    page.goto(server)
    page.get_by_role("button", name="Train", exact=True).click()                  # the tutorial's linear model
    expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=120_000)
    go_to(page, "Your handwriting")
    photo = tmp_path / "2024.jpg"
    photo.write_bytes(as_jpeg(number_photo(mnist, "2024")))
    page.locator(".st-key-photos input[type=file]").set_input_files(str(photo))
    expect(page.locator("[class*=st-key-number-] span")).to_have_text("2024", timeout=60_000)

    teach(page, HANDS["slanted-bold"], rounds=1)
    section = page.locator(".st-key-handwriting")
    expect(section.get_by_text("Read right by the current model")).to_be_visible()
    with page.expect_download() as download:
        section.get_by_role("button", name="Download my digits (.npz)").click()
    from mnist_core.handwriting import load_examples
    saved = tmp_path / download.value.suggested_filename                     # my-digits.npz
    download.value.save_as(saved)
    images, labels = load_examples(saved)
    assert images.shape == (10, 28, 28) and sorted(labels) == list(range(10))
    # the downloaded file loaded back joins the drawings: two of each digit, enough to fine-tune
    section.locator("input[type=file]").set_input_files(saved)
    expect(section.get_by_text("(20 examples")).to_be_visible(timeout=30_000)
    section.get_by_role("button", name="Fine-tune on my handwriting").click()
    held = section.locator("[data-testid=stMetric]", has_text="held-out drawings")
    held.wait_for(timeout=240_000)
    assert re.search(r"\d+ of 10", held.inner_text())
    expect(section.locator("[data-testid=stMetric]", has_text="MNIST test set")).to_contain_text("vs before")
    go_to(page, "Train")
    expect(page.get_by_text("Classified by run #2")).to_be_visible(timeout=30_000)   # the fine-tuned run
    page.close()


def test_runs_survive_reload_and_restart_and_travel_by_link(mnist_root, browser, tmp_path):
    """Train; reload; share and download on the Runs page; restart the server; open the share link in a second
    browser, whose model reads a drawing."""
    from playwright.sync_api import expect

    from mnist_core import load_checkpoint
    env = {"MNIST_STATE_DIR": str(tmp_path / "state")}
    url, proc = start_server(mnist_root, env)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 3000})
        page.goto(f"{url}/?epochs=2")
        page.get_by_role("button", name="Train", exact=True).click()
        accuracy_of(page).wait_for(timeout=120_000)
        shown = accuracy_of(page).inner_text()
        expect(page).to_have_url(re.compile(r"[?&]ws=[\w-]{22}"))
        query = page.url.split("?", 1)[1]
        page.reload()                                                          # a reload: the run is there
        expect(accuracy_of(page)).to_have_text(shown, timeout=60_000)
        expect(page.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)
        go_to(page, "Runs")
        page.get_by_text("Share, download or remove a run").click()
        page.get_by_role("button", name="Share", exact=True).click()
        link = page.locator("[data-testid=stCode] code").first
        expect(link).to_contain_text("?run=", timeout=30_000)
        token = link.inner_text().strip().rsplit("?run=", 1)[1]
        assert token not in query and "/runs" not in link.inner_text()       # the link opens the Train page
        page.get_by_role("button", name="Download", exact=True).click()
        with page.expect_download() as download:
            page.get_by_role("button", name="Checkpoint (.pt)").click()
        model, info = load_checkpoint(download.value.path())
        assert model.registry_name == "linear" and info["config"].epochs == 2
        page.close()
    finally:
        stop_server(proc)

    url, proc = start_server(mnist_root, env)                                 # a restarted server
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 3000})
        page.goto(f"{url}/?{query}")
        expect(accuracy_of(page)).to_have_text(shown, timeout=60_000)
        page.close()
        other = browser.new_context(viewport={"width": 1280, "height": 3000})  # someone else, with the link
        viewer = other.new_page()
        viewer.goto(f"{url}/?run={token}")
        expect(accuracy_of(viewer)).to_have_text(shown, timeout=60_000)
        expect(viewer.get_by_text("Classified by run #1")).to_be_visible(timeout=30_000)
        draw(viewer, [[(140, 40), (140, 240)]])                                # a "1", read by the shared model
        assert prediction(viewer) == "1"
        assert viewer.get_by_role("button", name="Remove").count() == 0
        assert viewer.get_by_role("button", name="Train", exact=True).count() == 0
        assert viewer.get_by_role("link", name="Runs", exact=True).count() == 0  # no runs of their own to list
        other.close()
    finally:
        stop_server(proc)
