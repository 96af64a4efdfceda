"""Local Fréchet distance: the Fréchet (2-Wasserstein) distance between Gaussian fits of features.

Not the Inception FID: there is no Inception network here. Features are the penultimate-layer
activations (after the ReLU) of a small MLP classifier trained locally on the same dataset
(:class:`sanode.baselines.MLPClassifier`), so numbers are comparable only between runs that share
that feature network. For Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂) (Dowson & Landau 1982):

    d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}).                      (FD)

The matrix square roots are taken by symmetric eigendecompositions (eigenvalues clipped at 0), which
is exact for PSD inputs and avoids the complex round-off of a general ``sqrtm`` of Σ₁Σ₂.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sanode.baselines import MLPClassifier, predict, train_baseline
from sanode.data.base import LabeledData
from sanode.validation import check_batch, check_positive_int

__all__ = ["FeatureNet", "frechet_distance", "gaussian_fit", "local_frechet_distance", "train_feature_net"]


def _sym_sqrt(m: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh(0.5 * (m + m.mT))
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.mT


def _check_gaussian(name: str, mu: Tensor, sigma: Tensor) -> None:
    if not isinstance(mu, Tensor) or mu.ndim != 1:
        raise ValueError(f"{name} mean must be a (d,) tensor")
    d = mu.shape[0]
    if not isinstance(sigma, Tensor) or sigma.shape != (d, d):
        raise ValueError(f"{name} covariance must be ({d}, {d}) to match its mean")
    if not (bool(torch.isfinite(mu).all()) and bool(torch.isfinite(sigma).all())):
        raise ValueError(f"{name} mean and covariance must be finite")


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """d² of (FD) between N(μ₁, Σ₁) and N(μ₂, Σ₂), computed in float64.

    Raises:
        ValueError: shapes that do not match, or NaN/Inf.
    """
    _check_gaussian("first", mu1, sigma1)
    _check_gaussian("second", mu2, sigma2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"the two Gaussians live in different dimensions: {mu1.shape[0]} vs {mu2.shape[0]}")
    m1, s1, m2, s2 = (t.detach().to(torch.float64) for t in (mu1, sigma1, mu2, sigma2))
    root1 = _sym_sqrt(s1)
    cross = torch.linalg.eigvalsh(0.5 * ((root1 @ s2 @ root1) + (root1 @ s2 @ root1).mT)).clamp_min(0).sqrt().sum()
    value = float((m1 - m2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross)
    # Round-off can leave a tiny negative number for identical inputs; the distance is ≥ 0.
    return max(value, 0.0)


def gaussian_fit(features: Tensor) -> tuple[Tensor, Tensor]:
    """(mean, unbiased covariance) of (n, d) features, float64; n ≥ 2."""
    check_batch("features", features)
    if len(features) < 2:
        raise ValueError("a Gaussian fit needs at least 2 samples")
    f = features.detach().to(torch.float64)
    mu = f.mean(0)
    c = f - mu
    return mu, c.mT @ c / (len(f) - 1)


@dataclass
class FeatureNet:
    """A locally trained MLP classifier: its logits score generated digits, its hidden layer gives features.

    Attributes:
        classifier: the trained :class:`~sanode.baselines.MLPClassifier`.
        test_accuracy: its accuracy on held-out real data (None if not measured).
    """

    classifier: MLPClassifier
    test_accuracy: float | None = None

    @torch.no_grad()
    def features(self, images: Tensor, batch_size: int = 2000) -> Tensor:
        """Penultimate activations ReLU(W₁ x + b₁), (n, hidden)."""
        check_batch("images", images, self.classifier.n_in)
        body: nn.Module = self.classifier.net[:2]
        dtype = next(self.classifier.parameters()).dtype
        return torch.cat([body(images[i : i + batch_size].to(dtype)) for i in range(0, len(images), batch_size)])

    def predict(self, images: Tensor) -> Tensor:
        check_batch("images", images, self.classifier.n_in)
        return predict(self.classifier, images)

    def classified_fraction(self, images: Tensor, k: int) -> float:
        """Share of ``images`` the classifier labels as class k (conditional-generation score)."""
        return float((self.predict(images) == k).double().mean())


def train_feature_net(
    train: LabeledData, test: LabeledData | None = None, *, hidden: int = 256, epochs: int = 5, seed: int = 0
) -> FeatureNet:
    """Train the independent MLP classifier (cross-entropy, Adam) used to score and featurise samples."""
    check_positive_int("hidden", hidden)
    model = MLPClassifier(train.n_features, train.n_classes, hidden, seed=seed)
    train_baseline(model, train, epochs=epochs, batch_size=128, lr=1e-3, seed=seed)
    acc = None
    if test is not None:
        acc = float((predict(model, test.x) == test.y).double().mean())
    return FeatureNet(model, acc)


def local_frechet_distance(net: FeatureNet, real: Tensor, fake: Tensor) -> float:
    """Local Fréchet distance (FD) between the feature Gaussians of ``real`` and ``fake`` images."""
    mu_r, s_r = gaussian_fit(net.features(real))
    mu_f, s_f = gaussian_fit(net.features(fake))
    return frechet_distance(mu_r, s_r, mu_f, s_f)
