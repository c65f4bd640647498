"""A fine-tune is named as one (not by the settings the learner never chose), and the handwriting section says
why its two counts move differently (issue 22)."""

from mnist_core import TrainConfig
from playground.runs import Run, differing, fine_tune_of, label
from playground.store import ELSEWHERE, SHIPPED_MODEL, StoredRun


def trained(number: int, tuned_from: int | None = None, **config) -> Run:
    stored = StoredRun(number, "w" * 22, number, TrainConfig(**config).to_dict(), "completed", tuned_from=tuned_from)
    return Run(number, stored=stored, tuned_from=tuned_from)


def tuned(number: int, tuned_from: int) -> Run:
    """A fine-tune, with the settings mnist_core.handwriting.fine_tune_config gives it."""
    return trained(number, tuned_from, lr=0.05, batch_size=256, epochs=1)


def test_a_fine_tunes_label_names_its_source_not_its_settings():
    keys = ["lr", "batch_size", "epochs"]
    assert label(tuned(5, 3), keys) == "#5 fine-tune of run #3 on your handwriting"
    assert label(tuned(5, SHIPPED_MODEL), keys) == "#5 fine-tune of the shipped model on your handwriting"
    assert label(tuned(5, ELSEWHERE), keys) == "#5 fine-tune on handwriting"       # a copy of someone's
    assert label(trained(1, lr=0.5), keys) == "#1 lr=0.5, batch_size=1000, epochs=10"
    assert fine_tune_of(trained(1)) is None


def test_a_fine_tunes_settings_do_not_make_the_other_runs_labels_longer():
    runs = [trained(1, lr=0.1), trained(2, lr=0.5), tuned(3, 2)]
    assert differing(runs) == ["lr"]


def test_the_outcome_explains_the_two_counts_and_what_one_held_out_drawing_weighs():
    from dashboard.handwriting import explanation
    text = explanation(tuned(5, 3), held=10)
    assert text.startswith("Run #5 is a fine-tune of run #3 on your handwriting.")
    assert "Read right by the current model" in text and "fine-tuned on too" in text
    assert "one drawing is 10 percentage points" in text and "held-out" in text
    assert "lr=" not in text
