"""Analysis of trained models: stability (Jacobian spectra) and the linear noise approximation."""

from sanode.analysis.stability import AttractorStability, fixed_point_residuals, jacobians, stability

__all__ = ["AttractorStability", "stability", "jacobians", "fixed_point_residuals"]
