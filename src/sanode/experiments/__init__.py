"""Experiment drivers built on the library API: repeated seeds (:mod:`~sanode.experiments.repeat`),
grid sweeps (:mod:`~sanode.experiments.sweep`), the paper reproductions
(:mod:`~sanode.experiments.paper1`, :mod:`~sanode.experiments.paper2`) and the robustness study
(:mod:`~sanode.experiments.robustness_study`). What they share lives in
:mod:`~sanode.experiments.common` and :mod:`~sanode.experiments.noise_levels`, so that no driver
imports another. Their command lines are in :mod:`sanode.cli`."""
