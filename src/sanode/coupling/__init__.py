"""Couplings: trainable N×N matrices with planted eigen-directions."""

from sanode.coupling.base import COUPLINGS, Coupling, PlantingError
from sanode.coupling.projector import ProjectorCoupling
from sanode.coupling.spectral import SpectralCoupling
from sanode.coupling.symmetric import SymmetricSpectralCoupling

__all__ = ["COUPLINGS", "Coupling", "PlantingError", "SpectralCoupling", "ProjectorCoupling", "SymmetricSpectralCoupling"]
