"""Generation mode (a): encoder → latent stochastic planted dynamics → decoder, trained jointly.

Paper 2's generative pipeline (Gagliani et al., arXiv 2510.12286; method-notes §2.4, authors'
``FullModel``): an image x is encoded to z(0) = E(x) ∈ R^d (d = 20 for MNIST), z evolves under the
latent CVFR with additive noise (paper 2, method-notes §2.2)

    dz = [−z + β B f(z)] dt + ε G dW,   B = A (I − P) + λ P,   f(z) = z² / (c + z²),

over T = steps·Δt, with class attractors x*_k planted in the latent space, and the decoder returns
x̂ = D(z(T)). The joint loss is (authors' weights: w_rec = 50, w_conv = 1, w_mean = 1)

    L = w_rec ‖x̂ − x‖²/N + w_conv ‖z(T) − x*_y‖²/d + w_mean mean_k ‖mean(z(T) | y = k) − x*_k‖²
        + w_lyap mean_k mean_ij (J_k Σ* + Σ* J_kᵀ + ε² G Gᵀ)²_ij
        + w_law ℓ(sg[z(T)]; Σ) + w_prior ℓ(z(T); sg[Σ]) + w_spread log²(⟨‖z(T) − x*_y‖²⟩/(d σ*²))    (L)

(sg: stop-gradient). The Lyapunov term (paper 2's ``lyapunov_reg``,
:func:`sanode.analysis.lyapunov.lyapunov_regulariser`) imposes a fixed target covariance Σ*. ℓ
(:func:`sanode.generate.law.law_nll`) is the negative log-likelihood of the codes z(T) under the
SDE's own LNA law N(x*_y, Σ_y): the law term fits the noise ε G and the basins to the codes, the
prior term the codes to the law, so that the stationary law itself generates. With ``flow_noise=False`` the codes
are the noise-free flow's z(T): the noise then shapes only the stationary law, not the codes the
decoder learns from (every direction of the CVFR at a silent node relaxes at rate 1, so an SDE whose
law is as wide as the data would bury the codes in its own noise within T).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sanode.analysis.covariance import lyapunov_regulariser
from sanode.build import build_classifier
from sanode.data.base import LabeledData
from sanode.generate.conv import ConvDecoder, ConvEncoder, check_conv_shape
from sanode.generate.decoder import Decoder, mlp, train_decoder
from sanode.generate.dynamical_decoder import DynamicalDecoder
from sanode.generate.latent_config import LatentConfig, LossWeights
from sanode.generate.law import fit_law, law_covariances, law_nll
from sanode.generate.statistics import ClassStatistics, class_statistics
from sanode.io.checkpoint import load_checkpoint, save_checkpoint
from sanode.model import AttractorClassifier
from sanode.noise import ActivityNoise, AdditiveNoise
from sanode.training.fit import NonFiniteLoss, adam, fit
from sanode.validation import (
    check_batch,
    check_generator,
    check_hidden,
    check_positive_float,
    check_positive_int,
)

__all__ = [
    "Encoder",
    "LatentConfig",
    "LatentGenerator",
    "LossTerms",
    "LossWeights",
    "fit_dynamical_decoder",
    "refit_activity_noise",
    "train_latent",
]

CHECKPOINT_KIND = "sanode-latent-generator"


class Encoder(nn.Module):
    """z(0) = ReLU(MLP(x)): images (n, N) to non-negative latent initial conditions (n, d).

    The final ReLU is the authors' (their MNIST encoder applies it to the latent too), and keeps z(0)
    in the CVFR's natural orthant, where the planted values are 0 and x_p > 0. ``relu=False`` drops
    it: a code pinned close to an attractor then varies on both sides of its silent nodes (x = 0),
    where the ReLU would clip every negative deviation to zero and silence half the latent.
    """

    def __init__(self, n_in: int, n_latent: int, hidden: tuple[int, ...], *, relu: bool = True):
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_latent = check_positive_int("n_latent", n_latent)
        self.net = mlp(n_in, check_hidden(hidden), n_latent, final=nn.ReLU() if relu else None)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclass(frozen=True)
class LossTerms:
    """The terms of (L) for one batch; ``total`` is the weighted sum (differentiable)."""

    total: Tensor
    rec: Tensor
    conv: Tensor
    mean: Tensor
    lyapunov: Tensor
    law: Tensor
    prior: Tensor
    spread: Tensor

    def floats(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name).detach()) for f in dataclasses.fields(self)}


class LatentGenerator(nn.Module):
    """Encoder, latent stochastic CVFR with planted class attractors, and decoder (mode a).

    Args:
        n_in: image size N (784 for MNIST).
        n_classes: K (one planted attractor per class).
        config: the architecture and loss weights.
        image_shape: (H, W) of the images, for figures.

    Attributes:
        encoder, dynamics, decoder: the three stages; ``dynamics`` is an
            :class:`~sanode.model.AttractorClassifier` on d nodes (so every analysis tool applies).
        stat_means, stat_covariances, stat_counts: per-class moments of z(T), filled by
            :meth:`fit_statistics` (paper 2's stored ``empirical`` covariance).
    """

    stat_means: Tensor
    stat_covariances: Tensor
    stat_counts: Tensor

    def __init__(
        self, n_in: int, n_classes: int, config: LatentConfig | None = None, *, image_shape: tuple[int, ...] | None = None
    ):
        super().__init__()
        self.config = config or LatentConfig()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_classes = check_positive_int("n_classes", n_classes)
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        cfg = self.config
        n_code = cfg.n_latent + (n_classes if cfg.decoder_input == "chart" else 0)
        self.encoder: nn.Module
        self.decoder: nn.Module
        if cfg.architecture == "conv":
            shape = check_conv_shape(self.image_shape)
            if shape[0] * shape[1] != n_in:
                raise ValueError(f"image_shape {shape} does not hold n_in = {n_in} pixels")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                self.encoder = ConvEncoder(shape, cfg.n_latent, cfg.channels, cfg.hidden[-1], relu=cfg.encoder_relu)
            self.decoder = ConvDecoder(n_code, shape, cfg.channels, seed=cfg.seed + 1)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                self.encoder = Encoder(n_in, cfg.n_latent, cfg.hidden, relu=cfg.encoder_relu)
            self.decoder = Decoder(n_code, n_in, tuple(reversed(cfg.hidden)), seed=cfg.seed + 1)
        self.dynamics: AttractorClassifier = build_classifier(cfg.run_config(n_classes), cfg.n_latent, n_classes)
        d = cfg.n_latent
        self.register_buffer("stat_means", torch.zeros(n_classes, d, dtype=torch.float64))
        self.register_buffer("stat_covariances", torch.zeros(n_classes, d, d, dtype=torch.float64))
        self.register_buffer("stat_counts", torch.zeros(n_classes, dtype=torch.int64))

    @property
    def n_latent(self) -> int:
        return self.config.n_latent

    @property
    def attractors(self) -> Tensor:
        return self.dynamics.attractors

    # ------------------------------------------------------------------ the data path

    def check_images(self, x: Tensor) -> Tensor:
        return check_batch("images", x, self.n_in)

    def encode(self, x: Tensor) -> Tensor:
        """z(0) = E(x), (n, d)."""
        return self.encoder(self.check_images(x))

    def latent_final(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """z(T): the encoded input after the latent stochastic dynamics, (n, d)."""
        return self.dynamics(self.encode(x), generator=check_generator(generator), noise=self.config.flow_noise)

    def chart(self, z: Tensor) -> Tensor:
        """The basin's chart of codes z (n, d): [one-hot(k), (z − x*_k)/code_scale], x*_k the nearest attractor."""
        centers = self.attractors.to(z.dtype)
        k = torch.cdist(z.detach(), centers).argmin(-1)  # the basin is a label, not a gradient path
        which = nn.functional.one_hot(k, self.n_classes).to(z.dtype)
        return torch.cat([which, (z - centers[k]) / self.config.code_scale], dim=-1)

    def decoder_input(self, z: Tensor) -> Tensor:
        """What the decoder reads of codes z (n, d): see ``LatentConfig.decoder_input``."""
        cfg = self.config
        if cfg.decoder_input == "chart":
            return self.chart(z)
        if cfg.code_scale == 1.0:
            return z
        return (z - self.attractors.to(z.dtype).mean(0)) / cfg.code_scale

    def decode(self, z: Tensor) -> Tensor:
        """x̂ = D(decoder_input(z)), (n, N) in (0, 1)."""
        return self.decoder(self.decoder_input(z).to(next(self.decoder.parameters()).dtype))

    def decode_dynamical(self, decoder: DynamicalDecoder, z: Tensor) -> Tensor:
        """Images of codes z through a dynamical decoder from :func:`fit_dynamical_decoder` (it reads the chart)."""
        return decoder(self.chart(z).to(decoder.lift.weight.dtype)).detach()

    def forward(self, x: Tensor, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x̂, z(T)) for images x (n, N)."""
        z_final = self.latent_final(x, generator=generator)
        return self.decode(z_final), z_final

    # ------------------------------------------------------------------ the objective

    def lyapunov_target(self) -> Tensor:
        """Σ* = σ*² I_d (float64)."""
        return self.config.target_std**2 * torch.eye(self.n_latent, dtype=torch.float64)

    def lyapunov_term(self) -> Tensor:
        """mean_k of paper 2's Lyapunov regulariser at every planted attractor (differentiable in A and G)."""
        noise = self.dynamics.noise
        eps, g = (noise.eps, noise.covariance_factor(torch.float64)) if isinstance(noise, AdditiveNoise) else (0.0, None)
        target = self.lyapunov_target()
        jac = self.dynamics.drift.jacobian(self.attractors.to(self.dynamics.attractors.dtype)).double()
        return torch.stack([lyapunov_regulariser(j, target, g, eps) for j in jac]).mean()

    def loss(self, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None) -> LossTerms:
        """The terms of (L) for a batch of images ``x`` (n, N) with labels ``y`` (n,)."""
        if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.dtype != torch.int64:
            raise ValueError(f"labels must be an int64 tensor of shape ({x.shape[0]},)")
        w = self.config.weights
        recon, z_final = self(x, generator=generator)
        targets = self.attractors[y].to(z_final.dtype)
        rec = nn.functional.mse_loss(recon, x.to(recon.dtype))
        conv = nn.functional.mse_loss(z_final, targets)
        present = torch.unique(y)
        centroids = torch.stack([z_final[y == k].mean(0) for k in present])
        mean = (centroids - self.attractors[present].to(z_final.dtype)).square().sum(-1).mean()
        lyap = self.lyapunov_term().to(rec.dtype) if w.lyapunov > 0 else rec.new_zeros(())
        law, prior = rec.new_zeros(()), rec.new_zeros(())
        if w.law > 0 or w.prior > 0:
            covs = law_covariances(self.dynamics)
            # Two roles, two terms: ``law`` moves the SDE's law onto the codes (codes detached),
            # ``prior`` moves the codes onto the law (law detached), as a VAE's prior shapes its
            # posterior; the spread pin keeps the pair from shrinking together.
            if w.law > 0:
                law = law_nll(z_final.detach(), y, self.attractors, covs).to(rec.dtype)
            if w.prior > 0:
                prior = law_nll(z_final, y, self.attractors, covs.detach()).to(rec.dtype)
        # The CVFR's only length scale is its nonlinearity: the codes' spread must stay well inside the
        # basins for the LNA to hold, so it is pinned at σ* (conv alone would only shrink it).
        spread = (conv / self.config.target_std**2).log().square() if w.spread > 0 else rec.new_zeros(())
        total = w.rec * rec + w.conv * conv + w.mean * mean + w.lyapunov * lyap + w.law * law + w.prior * prior
        total = total + w.spread * spread
        return LossTerms(total, rec, conv, mean, lyap, law, prior, spread)

    # ------------------------------------------------------------------ statistics and sampling

    @torch.no_grad()
    def final_codes(self, x: Tensor, *, generator: torch.Generator | None = None, batch_size: int = 2000) -> Tensor:
        """z(T) for every row of ``x``, batched, without gradient."""
        self.check_images(x)
        return torch.cat([self.latent_final(x[i : i + batch_size], generator=generator) for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def fit_statistics(self, data: LabeledData, *, generator: torch.Generator | None = None) -> ClassStatistics:
        """Store the per-class mean and covariance of z(T) over ``data`` (paper 2's ``empirical`` buffer)."""
        if data.n_classes != self.n_classes:
            raise ValueError(f"the generator has {self.n_classes} classes, the data {data.n_classes}")
        stats = class_statistics(self.final_codes(data.x, generator=generator), data.y, self.n_classes)
        self.stat_means.copy_(stats.means)
        self.stat_covariances.copy_(stats.covariances)
        self.stat_counts.copy_(stats.counts)
        return stats

    @property
    def statistics(self) -> ClassStatistics:
        """The stored per-class moments; ValueError if :meth:`fit_statistics` was never called."""
        if int(self.stat_counts.min()) < 2:
            raise ValueError("the class statistics are not fitted; call fit_statistics(train_data) first")
        return ClassStatistics(self.stat_means, self.stat_covariances, self.stat_counts)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``<path>.safetensors`` + ``<path>.json`` (:mod:`sanode.io.checkpoint`, never a pickle).

        ``metadata`` is stored beside the model's own description; its ``kind``, ``n_in``,
        ``n_classes``, ``image_shape`` and ``config`` are the model's, whatever ``metadata`` says (so
        saving a changed model with the metadata :meth:`load` returned stays loadable).
        """
        meta = {
            **(metadata or {}),
            "kind": CHECKPOINT_KIND,
            "n_in": self.n_in,
            "n_classes": self.n_classes,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "config": self.config.to_dict(),
        }
        return save_checkpoint(path, {k: v.detach() for k, v in self.state_dict().items()}, meta)

    @classmethod
    def load(cls, path: str | Path) -> tuple[LatentGenerator, dict[str, Any]]:
        """Rebuild a generator written by :meth:`save`; returns (model in eval mode, metadata)."""
        tensors, meta = load_checkpoint(path)
        if meta.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"{path} is not a latent-generator checkpoint (kind {meta.get('kind')!r})")
        shape = meta.get("image_shape")
        model = cls(meta["n_in"], meta["n_classes"], LatentConfig.from_dict(meta["config"]), image_shape=shape)
        model.load_state_dict(tensors)
        model.eval()
        return model, meta


def train_latent(
    model: LatentGenerator,
    train_data: LabeledData,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    noise_lr: float | None = None,
    lr_schedule: str = "constant",
    seed: int = 0,
    time_budget_s: float | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Minimise (L) with Adam over minibatches; noise and batch order are seeded.

    The per-class statistics of z(T) are fitted on ``train_data`` at the end (seeded noise), ready for
    the ``empirical`` and ``time_sample`` samplers.

    Args:
        model: the generator to train (in place).
        train_data: images (n, N) and labels.
        epochs: passes over the data.
        batch_size: items per step.
        lr: Adam's learning rate.
        noise_lr: Adam's learning rate for a learnable noise matrix G (default 10 × lr).
        lr_schedule: "constant" or "cosine" (both rates decay to 0 over ``epochs``).
        seed: seeds the batch order and the Brownian increments.
        time_budget_s: stop after the epoch that exceeds this wall time (None: no limit).
        log: called with each epoch's record (e.g. ``print``).

    Returns:
        One record per epoch: the mean of each loss term, and the wall time.

    Raises:
        ValueError: data that do not match the model, bad hyper-parameters, or a non-finite loss.
    """
    if train_data.n_features != model.n_in or train_data.n_classes != model.n_classes:
        raise ValueError(
            f"the data ({train_data.n_features} features, {train_data.n_classes} classes) do not match the "
            f"generator ({model.n_in}, {model.n_classes})"
        )
    if time_budget_s is not None:
        check_positive_float("time_budget_s", time_budget_s)
    noise_gen = torch.Generator().manual_seed(seed + 1)

    def batch_loss(batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, float]]:
        terms = model.loss(batch[0], batch[1], generator=noise_gen)
        return terms.total, terms.floats()

    # G's entries are O(1) while Adam moves each by about lr per step: the law's width would lag the codes'.
    noise: list[nn.Parameter] = list(model.dynamics.noise.parameters()) if isinstance(model.dynamics.noise, nn.Module) else []
    rest = [p for p in model.parameters() if all(p is not q for q in noise)]
    groups: list[dict[str, Any]] = [{"params": rest}]
    if noise:
        groups.append({"params": noise, "lr": noise_lr if noise_lr is not None else 10 * lr})
    opt, scheduler = adam(groups, lr, schedule=lr_schedule, epochs=epochs)
    model.train()
    try:
        history = fit(
            batch_loss,
            (train_data.x.float(), train_data.y),
            opt,
            epochs=epochs,
            batch_size=batch_size,
            generator=torch.Generator().manual_seed(seed),
            scheduler=scheduler,
            time_budget_s=time_budget_s,
            on_epoch=log,
        )
    except NonFiniteLoss as err:
        raise ValueError(f"epoch {err.epoch}: the loss is {err.value}; lower lr or eps") from err
    model.eval()
    model.fit_statistics(train_data, generator=torch.Generator().manual_seed(seed + 2))
    return history


def fit_dynamical_decoder(
    model: LatentGenerator, data: LabeledData, *, epochs: int = 5, steps: int = 5, dt: float = 0.2, seed: int = 0
) -> DynamicalDecoder:
    """Paper 2's "dynamical model of the same typology" as the decoder: a pixel-space CVFR fitted on
    the generator's codes z(T) of ``data``.

    It reads the basin's chart (:meth:`LatentGenerator.chart`), whatever the MLP decoder reads: its
    lift then starts each image from a class template plus a local deformation. (On the MNIST law
    recipe the centred reading gave reconstructions at local FD 99, the chart 22: docs/RESULTS.md §17.)
    Decode samples with ``model.decode_dynamical(dynamical_decoder, z)``.

    Raises:
        ValueError: data that do not match the generator.
    """
    if data.n_features != model.n_in:
        raise ValueError(f"the data have {data.n_features} features, the generator decodes {model.n_in}")
    inputs = model.chart(model.final_codes(data.x)).float()
    decoder = DynamicalDecoder(inputs.shape[1], model.n_in, steps=steps, dt=dt, seed=seed)
    train_decoder(decoder, inputs, data.x.float(), epochs=epochs, seed=seed)
    return decoder


def refit_activity_noise(model: LatentGenerator, data: LabeledData, *, steps: int = 300, lr: float = 1e-2) -> LatentGenerator:
    """A copy of ``model`` whose noise is an :class:`~sanode.noise.ActivityNoise` fitted to its codes.

    One loading G for every class cannot give each class a law of its own shape; G(x) = G₀ + Σ_i x_i
    G_i can (docs/RESULTS.md §17, run F4act). The copy starts at G₀ = the model's G (or I) with every
    gate at zero, so it begins as the model's own law, and :func:`~sanode.generate.law.fit_law`
    then fits it to the codes z(T) of ``data``. Encoder, coupling and decoder are the model's: with
    ``flow_noise=False`` the codes, and so the decoder's inputs, do not change.

    Raises:
        ValueError: a model whose codes carry the noise (``flow_noise=True``: a new noise would change
            them), or data that do not match it.
    """
    if model.config.flow_noise:
        raise ValueError("refit the noise only of a model whose codes come from the noise-free flow (flow_noise=False)")
    if data.n_features != model.n_in or data.n_classes != model.n_classes:
        raise ValueError("the data do not match the generator")
    config = dataclasses.replace(model.config, G="activity")
    copy = LatentGenerator(model.n_in, model.n_classes, config, image_shape=model.image_shape)
    copy.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("dynamics.noise")}, strict=False)
    noise = copy.dynamics.noise
    if isinstance(model.dynamics.noise, AdditiveNoise) and isinstance(noise, ActivityNoise):
        with torch.no_grad():
            noise.G.copy_(model.dynamics.noise.covariance_factor(torch.float32))
    fit_law(copy.dynamics, copy.final_codes(data.x), data.y, steps=steps, lr=lr)
    copy.eval()
    return copy
