"""Input corruptions: paper 1's random attacks A and B, and an MNIST-C-like common-corruption suite."""

from __future__ import annotations

from sanode.corruptions.attacks import (
    ADDITIVE_READINGS,
    REPLACE_MODES,
    AdditiveReading,
    AdditiveUniformAttack,
    LevelAttack,
    ReplaceAttack,
    ReplaceMode,
    attack_a,
    attack_b,
    attack_grid,
)
from sanode.corruptions.base import CORRUPTION_FUNCTIONS
from sanode.corruptions.common import CORRUPTIONS, SEVERITY_TABLES, corrupt

__all__ = [
    "ADDITIVE_READINGS",
    "CORRUPTION_FUNCTIONS",
    "CORRUPTIONS",
    "REPLACE_MODES",
    "SEVERITY_TABLES",
    "AdditiveReading",
    "AdditiveUniformAttack",
    "LevelAttack",
    "ReplaceAttack",
    "ReplaceMode",
    "attack_a",
    "attack_b",
    "attack_grid",
    "corrupt",
]
