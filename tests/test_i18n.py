"""The catalogs: every message translated (no fuzzy, the placeholders kept), the extraction up to date, the
compiled files current; the terminal in the environment's language with the tutorial's lines as they are."""

import pickle
import re
import string

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from helpers import ROOT, run_main
from mnist_core.i18n import N_, say, translation
from mnist_core.preprocess import ImageError

# The two domains (README.md, "In Korean"): what Babel extracts for each, the way babel.cfg and the README's
# commands extract it.
DOMAINS = {
    "dashboard": (ROOT / "dashboard" / "locale", ["streamlit_app.py", "dashboard", "playground"], {}),
    "mnist_core": (ROOT / "mnist_core" / "locale", ["mnist_core"], {"_field": (2,)}),
}
LANGUAGES = ["ko"]


def frozen(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def catalog(domain, language, suffix="po"):
    folder = DOMAINS[domain][0] / language / "LC_MESSAGES"
    with open(folder / f"{domain}.{suffix}", "rb") as f:
        return read_po(f, locale=language) if suffix == "po" else read_mo(f)


def extracted(domain) -> set:
    """The message ids the code holds now."""
    _, paths, keywords = DOMAINS[domain]
    found = set()
    for path in paths:
        target = ROOT / path
        messages = (extract_from_file("python", target, keywords={**DEFAULT_KEYWORDS, **keywords})
                    if target.is_file() else
                    (m[1:] for m in extract_from_dir(target, method_map=[("**.py", "python")],
                                                     keywords={**DEFAULT_KEYWORDS, **keywords})))
        # a call on a variable (``_(run.worker)``: marked where it is written) holds no message here
        found |= {frozen(m[1]) for m in messages if m[1] and all(isinstance(part, str) for part in (
            m[1] if isinstance(m[1], tuple) else [m[1]]))}
    return found


def names(text: str) -> set[str]:
    """A message's named placeholders ({number}, {model}...)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_has_a_translation_with_the_same_placeholders(domain, language):
    problems = []
    for message in catalog(domain, language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        elif not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
        elif any(names(s) != names(ids[0]) for s in strings):
            problems.append(f"placeholders differ: {ids[0]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_holds_every_message_of_the_code_and_no_other(domain, language):
    """A string wrapped in the code but missing from the catalog is shown in English: run the README's
    extract and update commands (and translate). A catalog entry the code no longer has is dead weight."""
    held = {frozen(m.id) for m in catalog(domain, language) if m.id}
    code = extracted(domain)
    assert not code - held, f"not in the {domain} catalog: {sorted(code - held, key=str)}"
    assert not held - code, f"no longer in the code: {sorted(held - code, key=str)}"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_the_catalogs(domain, language):
    """The .mo files are committed (a `pip install -r requirements.txt` user gets Korean with no build step):
    they must say what the .po files say (README's compile command)."""
    po = {frozen(m.id): frozen(m.string) for m in catalog(domain, language) if m.id}
    mo = {frozen(m.id): frozen(m.string) for m in catalog(domain, language, "mo") if m.id}
    assert mo == po


def test_the_terminal_speaks_the_environments_language_and_keeps_the_tutorials_lines(capsys, monkeypatch,
                                                                                     mnist_root):
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    helped = run_main(capsys, "--help")
    assert helped.returncode == 0
    assert "MNIST로 분류기를 학습합니다" in helped.stdout
    assert "학습률" in helped.stdout  # a TrainConfig field's help too
    refused = run_main(capsys, "--save", str(mnist_root))
    assert refused.returncode == 2 and "mnist_core: 오류:" in refused.stderr and "폴더입니다" in refused.stderr
    refused = run_main(capsys, "--lr", "-1")  # a refusal of mnist_core's, kept as its template and values
    assert refused.returncode == 2 and "lr(학습률)은 양수여야 합니다. 받은 값: -1" in refused.stderr

    ran = run_main(capsys, "--epochs", "1", "--data-dir", mnist_root, "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert re.fullmatch(r"Epoch: 001 cost = \d\.\d{9}\nAccuracy: 0\.\d{4}\n", ran.stdout)  # the seed's lines, as ever
    assert "학습" in ran.stderr and "s of training" not in ran.stderr

    monkeypatch.setenv("LANG", "C.UTF-8")  # no catalog for it: English
    assert "Train a classifier on MNIST" in run_main(capsys, "--help").stdout


def test_a_refusal_is_its_english_and_its_template_and_values_even_pickled():
    """What the page's caches and Ray send between processes is pickled: the template and values must survive,
    even when a value holds braces (the English alone would be read back as a template)."""
    error = ImageError(N_("the image could not be read ({reason})"), reason="{not a placeholder}")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == "the image could not be read ({not a placeholder})"
    assert (again.template, again.values) == (error.template, error.values)
    assert say(again, translation("ko")) == "이미지를 읽을 수 없었습니다 ({not a placeholder})"
    assert say(ValueError("no template"), translation("ko")) == "no template"
