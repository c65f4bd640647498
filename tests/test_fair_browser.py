"""Two visitors on one running server (`streamlit run`, one training slot), in two browser contexts: one presses
Train ten times, the other once. The second's training goes before the first's queued ones, the first is told it
has too many after three; a file name that looks like a link or an address is shown as text."""

import os
import re

import pytest

from helpers import CHROMIUM, go_to, start_server, stop_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                 reason="Chromium is not installed (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server(mnist_root):
    url, proc = start_server(mnist_root, env={"MNIST_TRAINING_SLOTS": "1"})
    yield url
    stop_server(proc)


def test_a_visitor_pressing_train_ten_times_cannot_keep_another_waiting(server, browser):
    from playwright.sync_api import expect

    first = browser.new_context(viewport={"width": 1280, "height": 2000}).new_page()
    second = browser.new_context(viewport={"width": 1280, "height": 2000}).new_page()
    # trainings of some seconds each (30 epochs of 1,875 batches: about 17 s on a free core, four times what the
    # ten clicks below take, with room for a busy machine), so the first still trains when the second arrives
    first.goto(f"{server}/?epochs=30&batch_size=32")
    second.goto(server)
    wait_idle(first), wait_idle(second)

    train = first.get_by_role("button", name="Train", exact=True)
    for _ in range(10):
        train.click()
        wait_idle(first)
    refusal = first.get_by_text("You have 3 trainings queued or running; wait for one to end or stop one.")
    expect(refusal.first).to_be_visible(timeout=30_000)
    expect(first.get_by_text(re.compile(r"\(2 more after it\)"))).to_be_visible(timeout=30_000)

    second.get_by_role("button", name="Train", exact=True).click()
    expect(second.get_by_text(re.compile("Waiting for a free training slot: 0 trainings queued ahead"))
           ).to_be_visible(timeout=30_000)                 # the first visitor's 2nd and 3rd are behind it
    expect(first.get_by_text(re.compile(r"^Training run #1: linear"))).to_be_visible()  # still the first's 1st

    # what comes after, turn by turn, is test_fair_queue.py's; here the first visitor stops theirs, and the
    # second's training starts and ends
    first.get_by_role("button", name="Stop training").click()
    wait_idle(first)
    second.locator("[data-testid=stMetric]", has_text="Test accuracy").wait_for(timeout=300_000)


def test_a_file_name_that_looks_like_a_link_or_an_address_is_shown_as_text(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    page.goto(server)
    wait_idle(page)
    go_to(page, "Your handwriting")
    names = ["www.evil.example login.png", "me@evil.example.png", "[click](https://evil.example).png"]
    page.locator(".st-key-photos input[type=file]").set_input_files(
        [{"name": n, "mimeType": "image/png", "buffer": b"not an image"} for n in names])
    wait_idle(page)
    errors = page.locator("[data-testid=stAlertContentError]", has_text="not a PNG")
    expect(errors).to_have_count(3, timeout=30_000)
    assert errors.locator("a").count() == 0                # no link made of a name
    shown = [t.replace("\u2060", "") for t in errors.all_inner_texts()]
    assert [s.split(": not a PNG")[0] for s in shown] == names
