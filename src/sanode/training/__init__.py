"""Training: the one loop every model uses (:func:`fit`) and the classifier trainer around it
(:func:`train`: run directory, checkpoints and exact resume, early stopping, processes)."""

from sanode.training.classifier import EpochHook, TrainingDiverged, TrainResult, final_report, load_data, train
from sanode.training.fit import SCHEDULES, NonFiniteLoss, adam, fit, minibatches

__all__ = [
    "SCHEDULES",
    "EpochHook",
    "NonFiniteLoss",
    "TrainResult",
    "TrainingDiverged",
    "adam",
    "final_report",
    "fit",
    "load_data",
    "minibatches",
    "train",
]
