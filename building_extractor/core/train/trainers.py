"""Pick the trainer for a model: U-Net (buildings), Mask R-CNN (instances) or land cover (several classes).

Apart from core.train.training so that the base trainer does not import its own subclasses."""

from __future__ import annotations

from typing import Any

from .instance_training import InstanceTrainer
from .landcover_training import LandCoverTrainer
from .training import Trainer, TrainingOptions, TrainingSource


def make_trainer(sources: list[TrainingSource], options: TrainingOptions, output: str, **kwargs: Any) -> Trainer:
    """A trainer for ``options.architecture`` and ``options.classes``; keyword arguments as :class:`Trainer`."""
    if options.architecture == "maskrcnn":
        return InstanceTrainer(sources, options, output, **kwargs)
    if options.classes:
        return LandCoverTrainer(sources, options, output, **kwargs)
    return Trainer(sources, options, output, **kwargs)
