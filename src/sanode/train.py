# TEMP-SHIM: moved to sanode.training.classifier
from sanode.training.classifier import *  # noqa: F401,F403
from sanode.training.classifier import EpochHook, TrainingDiverged, TrainResult, final_report, load_data, train  # noqa: F401
