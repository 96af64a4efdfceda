"""Scoring R realisations per input: each realisation's accuracy and the majority vote's.

A stochastic model is scored twice: the accuracy of a single realisation (mean and std over the R
realisations) and that of the majority vote across them. :meth:`RealisationResult.summary`
flattens both into table columns

    acc, acc_std, acc_vote                      the first rule (any model)
    acc_<rule>, acc_<rule>_std, acc_<rule>_vote  every named rule (attractor models)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.model import AttractorClassifier
from sanode.robustness.predict import DEFAULT_RULES, PLAIN, Prediction, attractor_predict, labels_by_rule

__all__ = ["RealisationResult", "evaluate_realisations", "majority_vote", "score_predictions"]


def majority_vote(labels: Tensor) -> Tensor:
    """The most frequent label across realisations, (R, n) → (n,).

    Ties go to the smallest label; undecided answers (−1) take part in the vote like a class.
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (R, n), got {tuple(labels.shape)}")
    if labels.shape[1] == 0:
        return labels.new_empty(0)
    shifted = labels + 1  # undecided (−1) → bin 0
    n_bins = int(shifted.max()) + 1
    counts = torch.zeros(n_bins, labels.shape[1], dtype=torch.int64, device=labels.device)
    counts.scatter_add_(0, shifted, torch.ones_like(shifted))
    return counts.argmax(0) - 1  # argmax picks the first maximum: the smallest label


@dataclass(frozen=True)
class RealisationResult:
    """Predictions and accuracies of R realisations per input, for every readout rule.

    Attributes:
        predictions: rule → labels of each realisation, shape (R, n).
        votes: rule → majority vote across the realisations, shape (n,).
        single_accuracy: rule → accuracy of each realisation, shape (R,).
        vote_accuracy: rule → accuracy of the vote.
    """

    predictions: dict[str, Tensor]
    votes: dict[str, Tensor]
    single_accuracy: dict[str, Tensor]
    vote_accuracy: dict[str, float]

    @property
    def n_realisations(self) -> int:
        return int(next(iter(self.predictions.values())).shape[0])

    def summary(self) -> dict[str, float]:
        """Flat columns: acc / acc_std / acc_vote for the first rule, then per named rule.

        ``acc`` is the mean over realisations of a single realisation's accuracy; ``acc_std`` the
        standard deviation over realisations (0 for R = 1).
        """
        out: dict[str, float] = {}
        for i, (rule, acc) in enumerate(self.single_accuracy.items()):
            columns = {
                "": float(acc.mean()),
                "_std": float(acc.std(correction=0)),
                "_vote": self.vote_accuracy[rule],
            }
            if i == 0:
                out.update({f"acc{suffix}": value for suffix, value in columns.items()})
            if rule != PLAIN:
                out.update({f"acc_{rule}{suffix}": value for suffix, value in columns.items()})
        return out


def score_predictions(prediction: Prediction, y: Tensor) -> RealisationResult:
    """Accuracies of a :data:`Predict` output against the true labels ``y`` (n,)."""
    predictions = labels_by_rule(prediction)
    single, votes, vote_acc = {}, {}, {}
    n = max(int(y.numel()), 1)
    for rule, labels in predictions.items():
        if labels.ndim != 2 or labels.shape[1] != y.numel():
            raise ValueError(f"rule {rule!r}: predictions of shape {tuple(labels.shape)} do not match {y.numel()} labels")
        truth = y.to(labels.device)
        single[rule] = (labels == truth).sum(1).double() / n
        votes[rule] = majority_vote(labels)
        vote_acc[rule] = float((votes[rule] == truth).sum()) / n
    return RealisationResult(predictions, votes, single, vote_acc)


def evaluate_realisations(
    model: AttractorClassifier,
    x: Tensor,
    y: Tensor,
    *,
    n_realisations: int,
    generator: torch.Generator | None = None,
    batch_size: int = 2000,
    rules: Sequence[str] = DEFAULT_RULES,
    threshold: float = 0.1,
) -> RealisationResult:
    """Run the stochastic model R times per input (one batched pass) and score every rule.

    Returns the predictions (R, n), the majority votes (n,), each realisation's accuracy (R,)
    and the vote's accuracy; :meth:`RealisationResult.summary` flattens them to table columns.
    """
    if y.ndim != 1 or y.numel() != len(x):
        raise ValueError(f"y must have shape ({len(x)},), got {tuple(y.shape)}")
    predict = attractor_predict(
        model, rules=rules, n_realisations=n_realisations, generator=generator, batch_size=batch_size, threshold=threshold
    )
    return score_predictions(predict(x), y)
