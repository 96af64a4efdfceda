"""Per-class first and second moments of final states: the 'empirical' law paper 2 samples from."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sanode.validation import check_batch, check_positive_int

__all__ = ["ClassStatistics", "class_statistics"]


@dataclass(frozen=True)
class ClassStatistics:
    """Mean μ_k and covariance Σ_emp,k of the final states of each class (paper 2's ``empirical`` buffer).

    Attributes:
        means: (K, d).
        covariances: (K, d, d), symmetric, unbiased (divisor n_k − 1).
        counts: (K,) number of items per class.
    """

    means: Tensor
    covariances: Tensor
    counts: Tensor

    @property
    def n_classes(self) -> int:
        return int(self.means.shape[0])

    @property
    def n_latent(self) -> int:
        return int(self.means.shape[1])


def class_statistics(codes: Tensor, labels: Tensor, n_classes: int) -> ClassStatistics:
    """Σ_emp,k = Cov[z | y = k] of ``codes`` (n, d) grouped by ``labels`` (n,), in float64.

    Raises:
        ValueError: bad shapes, non-finite codes, labels out of range, or a class with fewer than
            two items (its covariance is undefined).
    """
    check_batch("codes", codes)
    check_positive_int("n_classes", n_classes)
    if not isinstance(labels, Tensor) or labels.shape != (codes.shape[0],) or labels.dtype != torch.int64:
        raise ValueError(f"labels must be an int64 tensor of shape ({codes.shape[0]},) matching the codes")
    z = codes.detach().to(torch.float64)
    means, covs, counts = [], [], []
    for k in range(n_classes):
        members = z[labels == k]
        if len(members) < 2:
            raise ValueError(f"class {k} has {len(members)} item(s); its covariance needs at least 2")
        mu = members.mean(0)
        centred = members - mu
        cov = centred.mT @ centred / (len(members) - 1)
        means.append(mu)
        covs.append(0.5 * (cov + cov.mT))
        counts.append(len(members))
    return ClassStatistics(torch.stack(means), torch.stack(covs), torch.tensor(counts))
