"""What a run's costs say about its learning rate, in words a learner can act on.

Read from the epochs' costs alone (the tutorial's ``avg_cost``), against what guessing costs:
every model starts near :data:`CHANCE_COST` (2.28 to 2.40 for the registry's models, measured).

- too large: the cost turned NaN or infinite, rose between two epochs (an oscillation rises
  too), or the first epoch's cost was far above guessing: the steps overshoot;
- too small: the cost ended above guessing, or hardly below it: the weights barely moved.

On MNIST with the linear model, lr 0.0001 for 1 epoch ends at 2.35 (too small), lr 5 starts at 3.5
and lr 10 at 8.5 (too large); lr 0.01 to 1 gets no advice.
"""

from __future__ import annotations

import math
from gettext import NullTranslations
from typing import Sequence

from .i18n import ENGLISH
from .train import TrainConfig

CHANCE_COST = math.log(10)  # 2.302585: the cost of guessing each digit with probability 1/10
FAR_ABOVE_CHANCE = 1.25     # a first epoch above 1.25 x CHANCE_COST did worse than any model starts
RISE = 1.10                 # a cost more than 10% above the previous epoch's: not noise
HARDLY_BELOW_CHANCE = 0.9   # a run ending above 0.9 x CHANCE_COST learned next to nothing


def lr_advice(config: TrainConfig, costs: Sequence[float], status: str,
              words: NullTranslations = ENGLISH) -> tuple[str, str] | None:
    """(level, message) when the costs say the learning rate was wrong, else None; the message in the language
    of ``words`` (a gettext catalog of :mod:`mnist_core.i18n`'s domain).

    ``level`` is ``error`` for a training that diverged, ``warning`` for one that completed with a
    learning rate probably too large or too small; runs stopped early or failed get None (their costs
    tell too little), as do runs that learned as they should.
    """
    _ = words.gettext
    said = dict(lr=f"{config.lr:g}", model=config.model, optimizer=config.optimizer, chance=f"{CHANCE_COST:.2f}")
    if status == "diverged" or any(not math.isfinite(c) for c in costs):
        return ("error", _("Training diverged: the cost became {cost} in epoch {epoch}. The learning rate {lr} is "
                           "too large for {model} with {optimizer}; try one ten times smaller.").format(
            cost=costs[-1], epoch=len(costs), **said))
    if status != "completed" or not costs:
        return None
    for epoch, (before, after) in enumerate(zip(costs, costs[1:]), start=2):
        if after > RISE * before:
            return ("warning", _("The cost rose from {before} to {after} in epoch {epoch}: the learning rate {lr} "
                                 "is probably too large for {model} with {optimizer} (its steps overshoot); try "
                                 "one ten times smaller.").format(
                before=f"{before:.3g}", after=f"{after:.3g}", epoch=epoch, **said))
    if costs[0] > FAR_ABOVE_CHANCE * CHANCE_COST:
        return ("warning", _("The cost of the first epoch was {cost}, far above {chance}, what guessing at random "
                             "costs: the learning rate {lr} is probably too large for {model} with {optimizer}; "
                             "try one ten times smaller.").format(cost=f"{costs[0]:.3g}", **said))
    if costs[-1] > HARDLY_BELOW_CHANCE * CHANCE_COST:
        message = (_("The cost ended at {cost}, above {chance}, what guessing at random costs: the learning rate {lr} "
                   "is probably too small for {model} with {optimizer} (the weights barely moved); try one ten "
                   "times larger.") if costs[-1] > CHANCE_COST else
                 _("The cost ended at {cost}, hardly below {chance}, what guessing at random costs: the learning "
                   "rate {lr} is probably too small for {model} with {optimizer} (the weights barely moved); try "
                   "one ten times larger."))
        return ("warning", message.format(cost=f"{costs[-1]:.3g}", **said))
    return None
