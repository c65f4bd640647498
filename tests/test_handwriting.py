"""A person's own examples: the .npz format, the held-out split, fine-tuning through the one loop."""

import io

import numpy as np
import pytest

from mnist_core.handwriting import (
    accuracy_on, check_examples, fine_tune_config, fine_tune_start, held_out_split, load_examples, save_examples,
    to_bytes,
)


def test_examples_round_trip_through_npz():
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12) % 10
    back_images, back_labels = load_examples(io.BytesIO(to_bytes(images, labels)))
    assert np.array_equal(back_images, images) and np.array_equal(back_labels, labels)
    assert back_images.dtype == np.uint8 and back_labels.dtype == np.int64


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((3, 28, 27)), np.zeros(3), "images must be"),
    (np.zeros((3, 28, 28)), np.zeros(2), "labels must be"),
    (np.zeros((3, 28, 28)), np.array([0, 1, 10]), "digits 0-9"),
    (np.zeros((3, 28, 28)), np.array([0, 1, 2.5]), "digits 0-9"),
    (np.full((1, 28, 28), 300.0), np.zeros(1), "0-255"),
])
def test_bad_examples_are_refused(images, labels, message):
    with pytest.raises(ValueError, match=message):
        check_examples(images, labels)


class _Marker:
    """Unpickling this writes a file: proof that code in a file would have run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_files_that_are_not_examples_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    bad = tmp_path / "objects.npz"
    images = np.empty((1, 28, 28), dtype=object)
    images[0, 0, 0] = _Marker(marker)
    np.savez(bad, images=images, labels=np.zeros(1, dtype=np.int64))
    with pytest.raises(ValueError):
        load_examples(bad)
    assert not marker.exists()
    other = tmp_path / "other.npz"
    np.savez(other, pictures=np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="not a handwriting file"):
        load_examples(other)


def test_the_held_out_split_keeps_one_of_each_digit_that_has_more():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 3])          # digit 3 has a single example: never held out
    train, held = held_out_split(labels)
    assert sorted(labels[held]) == [0, 1, 2]
    assert set(train) | set(held) == set(range(len(labels))) and not set(train) & set(held)
    assert all(h == max(np.nonzero(labels == labels[h])[0]) for h in held)   # the last of each


def test_fine_tuning_learns_a_hand_and_keeps_mnist(mnist, tutorial_result):
    """A scripted hand (tests/helpers.py) that the tutorial's linear model reads badly."""
    from helpers import HANDS, examples
    from mnist_core.handwriting import SHARE
    from mnist_core.jobs import run_training
    model = tutorial_result.model
    images, labels = examples(HANDS["wide-round"], per_digit=6, seed=1)
    train, held = held_out_split(labels, per_digit=3)
    before = accuracy_on(model, images[held], labels[held])
    start = fine_tune_start(model, images[train], labels[train])
    result = run_training(fine_tune_config(tutorial_result.config), mnist, start=start)
    after = accuracy_on(result.model(), images[held], labels[held])
    assert result.status == "completed" and after >= before + 0.1
    assert result.evaluation.accuracy > tutorial_result.test_accuracy - 0.003      # MNIST kept: < 0.3 points lost
    assert start.repeat * len(train) == pytest.approx(SHARE * 60000, rel=0.05)


def test_saving_refuses_what_loading_would(tmp_path):
    with pytest.raises(ValueError):
        save_examples(tmp_path / "x.npz", np.zeros((2, 28, 28)), np.array([1, 11]))
