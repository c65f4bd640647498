"""Evaluation and prediction: the mistakes, the linear model's templates, reading a number, purity."""

import warnings

import numpy as np
import pytest
import torch

from mnist_core import build_model, evaluate, predict, read_number
from mnist_core.evaluate import EvalResult, logits_of
from mnist_core.explain import linear_templates
from mnist_core.models import to_input


def eval_result() -> EvalResult:
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    return EvalResult(accuracy=0.5, loss=1.0, confusion=np.zeros((10, 10), int), per_class_accuracy=np.zeros(10),
                      mistake_indices=np.array([10, 11, 12, 13, 14]), mistake_true=np.array([3, 5, 3, 3, 7]),
                      mistake_pred=np.array([5, 3, 8, 5, 1]), mistake_confidence=conf)


def test_mistakes_filter_by_true_and_predicted_digit():
    ev = eval_result()
    assert ev.mistakes().indices.tolist() == [10, 11, 12, 13, 14]
    threes = ev.mistakes(true_digit=3)
    assert threes.indices.tolist() == [10, 12, 13] and threes.pred.tolist() == [5, 8, 5]
    assert threes.confidence.tolist() == [0.9, 0.7, 0.6] and set(threes.true) == {3}
    assert ev.mistakes(pred_digit=5).indices.tolist() == [10, 13]
    assert ev.mistakes(true_digit=3, pred_digit=5).indices.tolist() == [10, 13]
    assert ev.mistakes(true_digit=3, limit=2).indices.tolist() == [10, 12]
    assert len(ev.mistakes(true_digit=0)) == 0


def test_mistakes_of_a_real_evaluation(tutorial_result, mnist):
    ev = evaluate(tutorial_result.model, mnist)
    sevens = ev.mistakes(true_digit=7, limit=20)
    assert len(sevens) == 20 and (sevens.true == 7).all() and (sevens.pred != 7).all()
    assert (np.diff(sevens.confidence) <= 0).all()  # most confident first
    assert (mnist.test_labels.numpy()[sevens.indices] == 7).all()
    assert len(ev.mistakes(true_digit=7)) == ev.confusion[7].sum() - ev.confusion[7, 7]


def test_linear_templates_are_the_weights_per_digit():
    model = build_model("linear")
    templates = linear_templates(model)
    assert templates.shape == (10, 28, 28)
    np.testing.assert_array_equal(templates[3].ravel(), model[-1].weight[3].detach().numpy())
    with pytest.raises(ValueError, match="linear model"):
        linear_templates(build_model("cnn"))


def test_read_number_of_a_blank_page():
    number, digits, probs = read_number(build_model("linear").eval(), np.full((200, 300), 230, np.uint8))
    assert number == "" and digits == [] and probs.shape == (0, 10)


def test_to_input_leaves_its_argument_alone():
    images = torch.full((2, 28, 28), 255.0)
    x = to_input(images)
    assert torch.equal(images, torch.full((2, 28, 28), 255.0))  # the caller's tensor, unscaled
    assert x.shape == (2, 1, 28, 28) and float(x.max()) == 1.0


def test_predict_on_a_read_only_array_does_not_warn():
    image = np.zeros((28, 28), np.uint8)
    image[8:20, 12:16] = 255
    image.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = predict(build_model("linear").eval(), image)
    assert probs.shape == (10,) and abs(probs.sum() - 1) < 1e-5


def test_prediction_leaves_the_models_mode_alone():
    model = build_model("cnn").eval()
    images = torch.zeros(3, 28, 28, dtype=torch.uint8)
    logits = logits_of(model, images)
    assert not model.training and logits.is_inference()  # no autograd graph kept
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    model.train()
    logits_of(model, images)
    # never flipped to eval and back, not even for the call: other threads may be using the model
    assert seen == [True] and model.training
