"""mnist_core's own words in other languages: one gettext domain, ``mnist_core``, its catalogs under ``locale/``.

The library speaks English unless handed a translation; the terminal (``python -m mnist_core``) follows the
environment like any gettext program (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), and the page asks for its
visitor's language. A language without a catalog falls back to English.

What mnist_core says before anybody's language is known (its refusals, progress notes, model descriptions) is
kept as a template marked with :func:`N_` and its values (:class:`Message`, and the errors built on
:class:`Translatable`), so whoever shows it says it in its reader's language (:func:`say`).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Message:
    """A message kept as its template (marked where it is written) and its values, so that whoever shows it can
    say it in its reader's language; ``str()`` is the English. A value that is a Message is said in the same
    language."""

    template: str
    values: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None  # with ``count``: the plural form, chosen by the catalog's rules for the language
    count: int = 1

    @classmethod
    def ngettext(cls, singular: str, plural: str, n: int, **values) -> Message:
        """A message with a plural form (named like gettext's ngettext so that the extraction finds both)."""
        return cls(singular, values, plural, n)

    def say(self, words: gettext.NullTranslations = ENGLISH) -> str:
        text = (words.ngettext(self.template, self.plural, self.count) if self.plural is not None else
                words.gettext(self.template))
        return text.format(**{k: v.say(words) if isinstance(v, Message) else v for k, v in self.values.items()})

    def __str__(self) -> str:
        return self.say()


class Translatable(Exception):
    """An error whose message is a :class:`Message`: ``str(exc)`` is its English; ``exc.template`` and
    ``exc.values`` let a caller say it in another language (:func:`say`)."""

    def __init__(self, template: str | Message, **values):
        self.message = template if isinstance(template, Message) else Message(template, values)
        super().__init__(str(self.message))

    @property
    def template(self) -> str:
        return self.message.template

    @property
    def values(self) -> Mapping[str, object]:
        return self.message.values

    def __reduce__(self):  # pickled (a cached result, a Ray task's error) as its Message, not as its English
        return type(self), (self.message,)


class Refused(Translatable, ValueError):
    """A value or a setting mnist_core will not take; the message says why and what to do."""


def say(error: BaseException | Message, words: gettext.NullTranslations = ENGLISH) -> str:
    """``error`` in the language of ``words`` when its message was kept as a :class:`Message`, else as it is."""
    message = error if isinstance(error, Message) else getattr(error, "message", None)
    return message.say(words) if isinstance(message, Message) else str(error)
