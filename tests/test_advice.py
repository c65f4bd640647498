"""What the costs say about the learning rate: too large, too small, or nothing to say."""

import math

import pytest

from mnist_core import TrainConfig, train
from mnist_core.advice import CHANCE_COST, lr_advice

LINEAR = TrainConfig()


def test_chance_is_what_guessing_costs():
    assert CHANCE_COST == pytest.approx(2.302585, abs=1e-6)


@pytest.mark.parametrize("costs", [
    (1.17, 0.64, 0.38),                        # the tutorial's
    (0.6727, 0.3607, 0.3325, 0.3182),          # lr 1: fast, and still falling
    (0.9361, 0.6232, 0.579, 0.5555, 0.5412),   # the mlp preset, label smoothing's floor near 0.5
    (2.0665,),                                 # lr 0.01, one epoch: slow, but learning
    (0.40, 0.41, 0.39),                        # a wobble, not a rise
])
def test_runs_that_learn_get_no_advice(costs):
    assert lr_advice(LINEAR, costs, "completed") is None


@pytest.mark.parametrize("costs, said", [
    ((8.5, 2.4, 1.2, 2.1), "rose from 1.2 to 2.1 in epoch 4"),      # lr 10 on the page: it oscillates
    ((8.4767, 2.7251, 1.8794, 1.6623), "first epoch was 8.48"),     # lr 10 here: far above guessing at first
    ((0.5, 0.3, 0.6, 0.25), "rose from 0.3 to 0.6 in epoch 3"),     # up and down
    ((3.5168, 1.0298, 1.0395, 1.012), "first epoch was 3.52"),      # lr 5
])
def test_a_rising_or_far_too_high_cost_says_too_large(costs, said):
    level, message = lr_advice(TrainConfig(lr=10.0), costs, "completed")
    assert level == "warning" and said in message
    assert "learning rate 10 is probably too large for linear with sgd" in message
    assert "try one ten times smaller" in message


@pytest.mark.parametrize("costs, where", [
    ((2.3462,), "ended at 2.35, above 2.30"),                       # lr 0.0001, one epoch
    ((2.3462, 2.3394, 2.3327, 2.1), "ended at 2.1, hardly below 2.30"),
])
def test_a_cost_that_barely_fell_says_too_small(costs, where):
    level, message = lr_advice(TrainConfig(lr=0.0001), costs, "completed")
    assert level == "warning" and where in message and "what guessing at random costs" in message
    assert "learning rate 0.0001 is probably too small" in message and "try one ten times larger" in message


@pytest.mark.parametrize("costs", [(float("nan"),), (2.0, float("inf"))])
def test_a_diverged_run_is_an_error(costs):
    level, message = lr_advice(TrainConfig(model="mlp", optimizer="momentum", lr=10.0), costs, "diverged")
    assert level == "error" and f"the cost became {costs[-1]} in epoch {len(costs)}" in message
    assert "learning rate 10 is too large for mlp with momentum; try one ten times smaller" in message


def test_runs_that_did_not_complete_get_no_warning():
    assert lr_advice(LINEAR, (2.35,), "stopped") is None
    assert lr_advice(LINEAR, (), "failed") is None
    assert lr_advice(LINEAR, (), "completed") is None


def test_real_runs_too_small_and_too_large(mnist):
    small = TrainConfig(lr=0.0001, epochs=1, eval_every_epoch=False, device="cpu")
    costs = train(small, mnist).epoch_costs
    assert costs[-1] > CHANCE_COST
    level, message = lr_advice(small, costs, "completed")
    assert level == "warning" and "too small" in message

    large = TrainConfig(lr=10.0, epochs=3, eval_every_epoch=False, device="cpu")
    result = train(large, mnist)
    assert result.status == "completed" and all(map(math.isfinite, result.epoch_costs))
    level, message = lr_advice(large, result.epoch_costs, result.status)
    assert level == "warning" and "too large" in message
