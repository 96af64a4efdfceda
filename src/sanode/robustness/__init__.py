"""Robustness tables: accuracy of (stochastic) classifiers under attacks and common corruptions.

Every table function talks to a classifier through one tiny protocol, :data:`Predict`: a
callable that maps a batch of inputs (n, N) to predicted labels, either

* a tensor of shape (n,), or (R, n) for R stochastic realisations of each input, or
* a mapping ``rule name → such a tensor``, when one integration serves several readouts.

Adapters build a :data:`Predict` from an :class:`~sanode.model.AttractorClassifier`
(:func:`attractor_predict`: every readout rule, R realisations in one batched pass) or from any
``nn.Module`` returning logits (:func:`logits_predict`), so the baselines and the attractor
models are scored by the same code. A stochastic model is scored twice: the accuracy of a single
realisation (mean and std over the R realisations) and that of the majority vote across them.

Table rows are flat dicts ready for CSV/JSON (:func:`write_table`), with the columns

    acc, acc_std, acc_vote                      the first rule (any model)
    acc_<rule>, acc_<rule>_std, acc_<rule>_vote  every named rule (attractor models)

Modules: :mod:`~sanode.robustness.predict` (the adapters), :mod:`~sanode.robustness.scoring`
(realisations and votes), :mod:`~sanode.robustness.sweeps` (the attack and corruption tables),
:mod:`~sanode.robustness.tables` (CSV/JSON output), :mod:`~sanode.robustness.plots` (the figure).
Worst-case (gradient-based and black-box) attacks with the gradient-masking checks live in the
subpackage :mod:`sanode.robustness.adversarial`.
"""

from sanode.robustness.plots import plot_accuracy_vs_p
from sanode.robustness.predict import DEFAULT_RULES, Predict, as_predict, attractor_predict, logits_predict
from sanode.robustness.scoring import RealisationResult, evaluate_realisations, majority_vote, score_predictions
from sanode.robustness.sweeps import ATTACKS, accuracy_vs_attack, accuracy_vs_corruption
from sanode.robustness.tables import write_table

__all__ = [
    "ATTACKS",
    "DEFAULT_RULES",
    "Predict",
    "RealisationResult",
    "accuracy_vs_attack",
    "accuracy_vs_corruption",
    "as_predict",
    "attractor_predict",
    "evaluate_realisations",
    "logits_predict",
    "majority_vote",
    "plot_accuracy_vs_p",
    "score_predictions",
    "write_table",
]
