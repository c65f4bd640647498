"""The visitor's language: English or Korean, chosen in the sidebar, carried in the address (``lang=ko``), on a
first visit taken from the browser's language; ``_`` and ``ngettext`` in that language.

The page's words (dashboard/, streamlit_app.py and the notices playground/ returns) are one gettext domain,
``dashboard``, with a catalog per language under ``dashboard/locale``; mnist_core's (its advice, its refusals,
its notes and model descriptions, kept as templates and values: mnist_core.i18n) are that package's own domain.
playground never imports Streamlit: its actions take a translation object (:func:`words`) instead of reading the
visitor's language themselves.
"""

from __future__ import annotations

import gettext
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import streamlit as st
from babel.numbers import format_decimal

from mnist_core import i18n as core_i18n

DOMAIN = "dashboard"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT = "en"


@lru_cache(maxsize=len(LANGUAGES))
def _translation(language: str) -> gettext.NullTranslations:
    words = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    # a message of mnist_core's that playground hands on (a refused file's reason) is found in its own catalog
    words.add_fallback(core_i18n.translation(language))
    return words


def language() -> str:
    return st.session_state.get("lang", DEFAULT)


def words() -> gettext.NullTranslations:
    """The page's catalog in the visitor's language (for playground's actions)."""
    return _translation(language())


def core_words() -> gettext.NullTranslations:
    """mnist_core's catalog in the visitor's language (its advice, notes and model descriptions)."""
    return core_i18n.translation(language())


def message(error: BaseException) -> str:
    """An error's message in the visitor's language: mnist_core's refusals (DataError, ImageError,
    WorkLimitError, a setting refused...) keep their template and values; any other error as it is."""
    return core_i18n.say(error, core_words())


def _(message: str) -> str:
    return words().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return words().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return words().pgettext(context, message)


def number(value: float, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals and the language's grouping and decimal marks (Babel). Rounded by
    Python first, so a number reads the same as in the terminal and the benchmarks."""
    return format_decimal(Decimal(f"{value:.{digits}f}"), "#,##0" + ("." + "0" * digits if digits else ""),
                          locale=language())


def percent(fraction: float, digits: int = 2) -> str:
    """A fraction as a percentage ("90.40%")."""
    return _("{value}%").format(value=number(100 * fraction, digits))


def seconds(value: float, digits: int = 2) -> str:
    return _("{value} s").format(value=number(value, digits))


def duration(value: float) -> str:
    """An estimated time in seconds, minutes or hours (as mnist_core.budget rounds it)."""
    if value < 90:
        return seconds(value, 0)
    minutes = value / 60
    if minutes < 90:
        return _("{value} min").format(value=number(minutes))
    return _("{hours} h {minutes} min").format(hours=int(minutes // 60), minutes=f"{minutes % 60:02.0f}")


def setting_name(key: str) -> str:
    """A setting (a TrainConfig field) as the page names it."""
    return {"model": _("model"), "lr": _("learning rate"), "batch_size": _("batch size"),
            "label_smoothing": _("label smoothing"), "augment": _("augmentation"), "epochs": _("epochs"),
            "optimizer": _("optimizer"), "seed": _("seed"), "device": _("device"), "schedule": _("schedule"),
            "width": _("width")}.get(key, key)


def status_word(status: str) -> str:
    """A run's status (playground.runs) as the page says it."""
    return {"queued": _("queued"), "running": _("running"), "completed": _("completed"), "stopped": _("stopped"),
            "diverged": _("diverged"), "failed": _("failed"), "interrupted": _("interrupted"),
            "unsaved": _("unsaved")}.get(status, status)


def from_browser(locale: str | None) -> str:
    """The language a browser's locale (``ko-KR``, ``en-US``...) asks for, when the page has it."""
    wanted = (locale or "").replace("_", "-").split("-")[0].lower()
    return wanted if wanted in LANGUAGES else DEFAULT


def init_language() -> None:
    """Once per tab: the address's ``lang``, else the browser's language. A language taken from the address
    or chosen here is pinned: the address keeps it, so a shared link opens in it."""
    ss = st.session_state
    if "lang" in ss:
        return
    asked = st.query_params.get("lang")
    ss.lang_pinned = asked in LANGUAGES
    ss.lang = asked if ss.lang_pinned else from_browser(st.context.locale)


def in_address() -> dict[str, str]:
    """The address's part for the language: none for English nobody chose (the address as it always was)."""
    ss = st.session_state
    return {"lang": ss.lang} if ss.get("lang_pinned") or ss.get("lang", DEFAULT) != DEFAULT else {}


def _switched() -> None:
    st.session_state.lang_pinned = True
    st.query_params["lang"] = st.session_state.lang


# Korean breaks lines between words, not inside them (browsers otherwise break Hangul at any syllable); a word
# longer than its line (a file name, an address) still wraps rather than running past a phone's edge. Important:
# Streamlit's own classes set word-break on the same elements.
KOREAN_LINES = ("<style>p, li, label, button, [data-testid=stMetricDelta] "
                "{word-break: keep-all !important; overflow-wrap: anywhere !important}</style>")


def language_switch() -> None:
    """The switch in the sidebar, its label in both languages (a visitor who cannot read one finds it)."""
    init_language()  # a sidebar drawn on its own (a test's) has a language too
    if language() == "ko":
        st.html(KOREAN_LINES)
    st.segmented_control("Language · 언어", list(LANGUAGES), key="lang", format_func=LANGUAGES.get,
                         on_change=_switched, required=True, label_visibility="collapsed")
