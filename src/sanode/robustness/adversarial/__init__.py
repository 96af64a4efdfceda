"""Gradient-based (white-box) and black-box adversarial attacks, through the unrolled dynamics.

An attack sees a classifier as an :class:`AttackTarget` (:func:`as_target`): class scores
(an attractor model's *logits view*, the score its readout maximises), per-example losses
(margin, cross-entropy, DLR, and the attractor models' final-state loss ‖x(T) − x^s_y‖²/N),
and hard predictions with the model's own noise. Stochastic models are attacked with
Expectation over Transformation (``eot`` realisations per gradient) and scored with
``eval_realisations`` of their own noise (per-realisation accuracy and majority vote).

Modules: ``balls`` (the ε-ball ∩ [0, 1]^N threat model), ``losses``, ``targets``, ``pgd``
(FGSM, PGD with random starts and restarts), ``blackbox`` (square attack, transfer),
``settled`` (the settled readout x(∞), attacked through a finite horizon), ``masking`` (the
gradient-masking checks), ``curves`` (robust accuracy vs ε with the checks), ``suite`` (every
model of a study attacked the same way, with its tables and figures).

Libraries considered: torchattacks 3.5.1 (2023-10) requires torchvision, which has no CPU build
here; foolbox 3.3.4 (2024-03) pulls eagerpy and GitPython and has no APGD;
adversarial-robustness-toolbox 1.20.1 (2025-07) has APGD but works on numpy arrays through a
heavy estimator wrapper. None fits a state-valued model cleanly, so the attacks are written here
(APGD is not implemented; PGD with restarts over margin and final-state losses stands in).
"""

from sanode.robustness.adversarial.balls import NORMS, Ball
from sanode.robustness.adversarial.blackbox import square_attack, transfer_attack
from sanode.robustness.adversarial.curves import ADVERSARIAL_ATTACKS, masking_report, robust_accuracy_curve, run_attack
from sanode.robustness.adversarial.losses import LOSS_NAMES, LOSSES, cross_entropy, dlr, margin
from sanode.robustness.adversarial.masking import (
    Check,
    black_box_not_stronger,
    format_checks,
    iterative_beats_single_step,
    monotone_in_eps,
    more_iterations_do_not_help,
    reaches_zero,
    settled_state_check,
)
from sanode.robustness.adversarial.pgd import AttackResult, evaluate_inputs, fgsm, input_gradient, pgd
from sanode.robustness.adversarial.settled import SettledTarget
from sanode.robustness.adversarial.suite import AdversarialPlan, attack_suite, suite_markdown
from sanode.robustness.adversarial.targets import AttackTarget, AttractorTarget, LogitsTarget, as_target, frozen

__all__ = [
    "ADVERSARIAL_ATTACKS",
    "AdversarialPlan",
    "LOSSES",
    "LOSS_NAMES",
    "NORMS",
    "AttackResult",
    "AttackTarget",
    "AttractorTarget",
    "Ball",
    "Check",
    "LogitsTarget",
    "SettledTarget",
    "as_target",
    "attack_suite",
    "black_box_not_stronger",
    "cross_entropy",
    "dlr",
    "evaluate_inputs",
    "fgsm",
    "format_checks",
    "frozen",
    "input_gradient",
    "iterative_beats_single_step",
    "margin",
    "masking_report",
    "monotone_in_eps",
    "more_iterations_do_not_help",
    "pgd",
    "reaches_zero",
    "robust_accuracy_curve",
    "run_attack",
    "settled_state_check",
    "square_attack",
    "suite_markdown",
    "transfer_attack",
]
