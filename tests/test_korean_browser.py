"""The Korean page in a real browser, on a phone (390 px wide) and a desktop (1280 px): a first visit from a
Korean browser opens in Korean, trains, and lays its Korean out without a clipped button or an overflowing line.
``MNIST_SCREENSHOT_DIR`` set: the screenshots of the README (docs/korean-phone.png, docs/korean.png) go there."""

import os
from pathlib import Path

import pytest

from helpers import start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

# Elements wider than their box: a clipped button label, or any element running past the viewport's right edge.
OVERFLOWS = """width => [...document.querySelectorAll(
    'button, [data-testid=stCaptionContainer], [data-testid=stMarkdownContainer], [data-testid=stMetric], '
    + '[data-testid=stAlert]')]
  .filter(el => el.offsetParent !== null && el.getBoundingClientRect().right > 0)  // not in a closed sidebar
  .filter(el => el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > width + 1)
  .map(el => el.innerText.slice(0, 60))"""


def laid_out(page, width: int, name: str) -> None:
    wait_idle(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    assert page.evaluate(OVERFLOWS, width) == []
    if os.environ.get("MNIST_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["MNIST_SCREENSHOT_DIR"]) / name), full_page=True)


def test_the_korean_page_on_a_phone_and_a_desktop(mnist_root, browser):
    from playwright.sync_api import expect

    url, proc = start_server(mnist_root)
    try:
        page = browser.new_page(viewport={"width": 390, "height": 2400}, locale="ko-KR", is_mobile=True,
                                has_touch=True)
        page.goto(f"{url}/?epochs=1")  # no lang: the browser's language decides
        expect(page.get_by_text("실시간 학습")).to_be_visible(timeout=60_000)
        page.locator('[data-testid="stExpandSidebarButton"]').click()
        expect(page.get_by_role("button", name="학습", exact=True)).to_be_visible()
        page.locator("[data-testid=stSidebar]").evaluate(  # measured once it has slid in, not on its way
            "el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished))")
        laid_out(page, 390, "korean-sidebar.png")  # the switch, at the top of the sidebar
        # Korean lines break between words (dashboard.i18n.KOREAN_LINES), not inside them
        assert page.evaluate("getComputedStyle(document.querySelector('[data-testid=stCaptionContainer] p'))"
                             ".wordBreak") == "keep-all"
        page.get_by_role("button", name="학습", exact=True).click()
        accuracy = page.locator("[data-testid=stMetric]", has_text="테스트 정확도")
        accuracy.wait_for(timeout=120_000)
        expect(page.get_by_text("실행 #1의 오답")).to_be_visible(timeout=60_000)
        assert "lang=ko" in page.url  # the address carries the language now: a shared link opens in Korean
        laid_out(page, 390, "korean-phone.png")
        page.set_viewport_size({"width": 1280, "height": 2400})
        laid_out(page, 1280, "korean.png")
        page.close()
    finally:
        stop_server(proc)
