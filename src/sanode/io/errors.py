"""What reading or writing a run's files can go wrong with, as exception types callers can catch."""

from __future__ import annotations

__all__ = ["CheckpointError", "CheckpointWarning"]


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, tampered with, or not what the caller expected."""


class CheckpointWarning(UserWarning):
    """A checkpoint was loaded, but only by recovering from an interrupted save."""
