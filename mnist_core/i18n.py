"""mnist_core's own words in other languages: one gettext domain, ``mnist_core``, its catalogs under ``locale/``.

The library speaks English unless handed a translation; the terminal (``python -m mnist_core``) follows the
environment like any gettext program (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), and the page asks for its
visitor's language. A language without a catalog falls back to English.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "mnist_core"
LOCALE_DIR = Path(__file__).parent / "locale"
ENGLISH = gettext.NullTranslations()  # what a caller that names no language gets: the messages as written


def N_(message: str) -> str:
    """Marks ``message`` for the catalog where it is written, to be translated where it is shown (a value kept
    before anybody's language is known)."""
    return message


def translation(language: str | None = None) -> gettext.NullTranslations:
    """The catalog for ``language`` (e.g. "ko"); None: the one the environment's language asks for, read at each
    call (gettext keeps each catalog file it has read)."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=None if language is None else [language],
                               fallback=True)
