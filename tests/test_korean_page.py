"""The page in Korean (AppTest): it trains and shows its results with no English word of the page's left, nor of
mnist_core's (its refusals, notes and model descriptions); the language comes from the address, else the browser,
and switching it keeps the settings and the runs."""

import io
import json
import re

import numpy as np
import pytest
from babel.messages.pofile import read_po
from streamlit.runtime.context import ContextProxy
from streamlit.testing.v1 import AppTest

from helpers import ROOT
from playground.text import plain

APP = str(ROOT / "streamlit_app.py")
# the page's words, and mnist_core's that the page shows (refusals, notes, model descriptions)
CATALOGS = (ROOT / "dashboard" / "locale" / "ko" / "LC_MESSAGES" / "dashboard.po",
            ROOT / "mnist_core" / "locale" / "ko" / "LC_MESSAGES" / "mnist_core.po")
WIDGETS = ("button", "download_button", "selectbox", "select_slider", "slider", "number_input", "checkbox", "radio",
           "multiselect", "file_uploader", "expander", "metric", "segmented_control")


def english_words() -> tuple[set[str], set[str]]:
    """The page's English: whole labels (one word, no value in them: "Train", "Seed") and the phrases of two
    words or more between a message's placeholders ("the tutorial's known accuracy")."""
    messages = []
    for catalog in CATALOGS:
        with open(catalog, "rb") as f:
            messages += [m for m in read_po(f) if m.id]
    labels, phrases = set(), set()
    for message in messages:
        for text in message.id if isinstance(message.id, tuple) else (message.id,):
            if "{" not in text and " " not in text:
                labels.add(text)
            for part in re.split(r"\{[^}]*\}|\*\*|<br>|%\{[^}]*\}", text):
                part = part.strip(" ,.:;()…*#→·")
                if len(part.split()) >= 2:
                    phrases.add(part)
    return labels, phrases


def shown(at) -> list[str]:
    """Every text the page shows: headings, text, notices, widgets' labels, options and help, metrics, image
    captions, chart titles, axes and legends, table headers."""
    texts = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success"):
        texts += [el.value for el in at.get(kind)]
    for kind in WIDGETS:
        for el in at.get(kind):
            proto = el.proto
            texts += [getattr(proto, name, "") for name in ("label", "help", "placeholder", "body")]
            texts += list(getattr(el, "options", []) or [])
    for el in at.metric:
        texts += [el.value, el.proto.delta]
    for el in at.get("image"):
        texts += [img.caption for img in el.proto.imgs]
    for el in at.get("progress"):
        texts.append(el.proto.text)
    for el in at.dataframe:
        texts += [str(c) for c in el.value.columns]
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        layout = fig["layout"]
        texts.append(json.dumps(layout.get("title", ""), ensure_ascii=False))
        texts += [json.dumps(layout[k].get("title", ""), ensure_ascii=False) for k in layout if k[1:5] == "axis"]
        texts += [a.get("text", "") for a in layout.get("annotations", [])]
        texts += [t.get("name", "") + t.get("hovertemplate", "") for t in fig["data"]]
    return [t for t in texts if t]


def english_left(at) -> list[str]:
    labels, phrases = english_words()
    texts = shown(at)
    joined = "\n".join(texts)
    return sorted({t for t in texts if t in labels} | {p for p in phrases if p in joined})


def settle(at):
    for run in at.session_state.visitor.run_list:
        assert run.job is None or run.job.wait(180)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def page(mnist_root, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_root))

    def open_page(**address):
        at = AppTest.from_file(APP, default_timeout=180)
        for key, value in address.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception
        return at
    return open_page


def test_the_korean_page_trains_shows_its_results_and_no_english_word_of_the_page_remains(page):
    at = page(lang="ko", epochs="1")
    assert at.button(key="train").label == "학습"
    at.button(key="train").click().run()
    settle(at)
    assert [m.label for m in at.metric][:3] == ["테스트 정확도", "학습 시간", "장치"]
    assert at.metric[0].value.endswith("%") and at.metric[1].value.endswith("초")
    assert at.metric[0].proto.delta[0] in "+-"  # Streamlit draws the arrow by the delta's first character
    assert "실행 #1의 오답" in [h.value for h in at.subheader]
    assert "에포크 1번은 이미지 60,000장" in "\n".join(c.value for c in at.caption)  # Babel's grouping
    assert english_left(at) == []


def test_the_list_of_english_words_finds_the_english_page(page):
    """The check above is only as good as its list: on the English page it finds the page's words."""
    at = page(epochs="1")
    left = english_left(at)
    assert {"Train", "Seed", "Experiment", "Training, live"} <= set(left)


def test_switching_language_keeps_the_settings_and_the_runs(page):
    at = page(epochs="1", lr="0.5")
    at.button(key="train").click().run()
    settle(at)
    at.segmented_control(key="lang").set_value("ko").run()
    assert not at.exception
    assert (at.session_state.lr, at.session_state.epochs) == (0.5, 1)
    assert len(at.session_state.visitor.run_list) == 1
    assert at.query_params["lang"] == "ko" and at.query_params["lr"] == "0.5"
    assert "실행 #1의 오답" in [h.value for h in at.subheader]
    assert english_left(at) == []
    at.segmented_control(key="lang").set_value("en").run()  # and back: the address keeps the choice
    assert at.query_params["lang"] == "en" and at.button(key="train").label == "Train"


def test_a_first_visit_takes_the_browsers_language_and_the_address_overrides_it(page, monkeypatch):
    monkeypatch.setattr(ContextProxy, "locale", property(lambda self: "ko-KR"))
    at = page()
    assert at.session_state.lang == "ko" and at.button(key="train").label == "학습"
    assert at.query_params["lang"] == "ko"  # a link shared from here opens in Korean
    at = page(lang="en")  # a shared link keeps its language
    assert at.button(key="train").label == "Train"
    monkeypatch.setattr(ContextProxy, "locale", property(lambda self: "en-US"))
    at = page()
    assert at.session_state.lang == "en" and "lang" not in at.query_params  # the address as it always was


def test_mnist_cores_refusals_are_said_in_korean(page):
    """A link asking for hours of training, photos that are no images, a handwriting file that is none:
    mnist_core's refusals (WorkLimitError, ImageError, load_examples') reach the page as templates and values,
    said in the visitor's language."""
    at = page(lang="ko", model="cnn", width="64", batch_size="32", epochs="30", augment="1")
    assert at.button(key="train").disabled
    refusals = [w.value for w in at.sidebar.warning if w.value.startswith("이 서버에서는 할 수 없습니다")]
    assert refusals and "다음 중 하나를 고르세요: 에포크 최대" in refusals[0]
    help_text = at.sidebar.selectbox(key="model").proto.help
    assert "배치 정규화를 쓰는 작은 합성곱 신경망" in help_text  # the models' descriptions
    assert english_left(at) == []
    at.switch_page("dashboard/pages/handwriting.py").run()    # photos and handwriting files: their own page
    at.file_uploader(key="photos").set_value([("notes.png", b"not an image", "image/png"),
                                              ("empty.png", b"", "image/png")]).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert f"{plain('notes.png')}: PNG, JPEG, WebP 이미지가 아닙니다." in errors
    assert f"{plain('empty.png')}: 파일이 비어 있습니다." in errors
    digits = io.BytesIO()  # a handwriting file with a label that is no digit
    np.savez(digits, images=np.zeros((1, 28, 28), np.uint8), labels=np.array([12]))
    at.file_uploader(key="hw-file").set_value(("mine.npz", digits.getvalue(), "application/octet-stream")).run()
    assert any(plain("labels는 0-9의 숫자여야 합니다") in w.value for w in at.warning)
    assert english_left(at) == []


def test_a_data_error_is_said_in_korean(no_mnist):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "ko"
    at.run()
    at.switch_page("dashboard/pages/inside.py").run()  # the test set's map needs the data
    assert not at.exception
    texts = "\n".join(shown(at))
    assert "MNIST 데이터가 없습니다" in texts and "MNIST data not found" not in texts
    assert english_left(at) == []
