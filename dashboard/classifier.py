"""The model that reads drawings and photos: the run on show (the shared one, else the visitor's latest trained),
else the model shipped with the project."""

from __future__ import annotations

from dashboard import i18n, resources, session
from dashboard.i18n import _


def classifier():
    """The model that reads drawings: the run on show, else the shipped one; words saying which; a key naming it."""
    run = session.latest_finished()
    if run is not None:
        return run.model, _("run #{number} ({accuracy} on the test set)").format(
            number=run.number, accuracy=i18n.percent(run.accuracy)), run.key
    model, acc, _config = resources.pretrained_model()
    return model, (_("the shipped pretrained model ({accuracy} on the test set)").format(accuracy=i18n.percent(acc))
                   if acc else _("the shipped pretrained model")), "pretrained"


def config_of_classifier():
    """The TrainConfig of the model that classifies (None when unknown)."""
    run = session.latest_finished()
    return run.config if run is not None else resources.pretrained_model()[2]


def test_accuracy_of(model) -> float | None:
    """The MNIST test accuracy of the classifying model, as recorded when it was trained."""
    run = session.latest_finished()
    if run is not None and run.model is model:
        return run.accuracy
    shipped, acc, _config = resources.pretrained_model()
    return acc if model is shipped else None
