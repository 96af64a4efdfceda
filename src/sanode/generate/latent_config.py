"""What fixes a latent generator: its architecture, its noise, and the weights of its loss (L).

The loss itself and the model are in :mod:`sanode.generate.latent`; this module only holds the
frozen, checkpointed description of both, checked at construction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sanode.config import RunConfig
from sanode.validation import check_hidden, check_positive_float, check_positive_int

__all__ = [
    "ARCHITECTURES",
    "ATTRACTOR_CHOICES",
    "COUPLINGS",
    "DECODER_INPUTS",
    "G_CHOICES",
    "RECIPES",
    "LatentConfig",
    "LossWeights",
]

G_CHOICES: tuple[str, ...] = ("identity", "learnable", "activity")
COUPLINGS: tuple[str, ...] = ("projector", "spectral")
ATTRACTOR_CHOICES: tuple[str, ...] = ("class_blocks", "random")
ARCHITECTURES: tuple[str, ...] = ("mlp", "conv")
DECODER_INPUTS: tuple[str, ...] = ("centered", "chart")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms of (L); the defaults are the authors' (Lyapunov term off)."""

    rec: float = 50.0
    conv: float = 1.0
    mean: float = 1.0
    lyapunov: float = 0.0
    law: float = 0.0
    prior: float = 0.0
    spread: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_positive_float(f"loss weight {f.name}", getattr(self, f.name), allow_zero=True)


@dataclass(frozen=True)
class LatentConfig:
    """Everything that fixes a latent generator's architecture (stored in its checkpoint).

    Attributes:
        n_latent: d, the latent (CVFR) size; 20 for MNIST in the authors' code.
        hidden: encoder hidden widths (the decoder mirrors them); the authors use (600, 400, 200).
        eps: noise amplitude ε (authors: 0.06).
        G: "identity" (authors), "learnable" (N×N parameter starting at I) or "activity" (a
            state-dependent loading G(x) = G₀ + Σ_i x_i G_i, :class:`~sanode.noise.ActivityNoise`).
        dt, steps: Euler–Maruyama step and number of steps (authors: 0.03, 50).
        coupling: "projector" (paper 2) or "spectral" (paper 1) planting.
        c: Hill constant (paper 2: 1/8, with β = λ = 1).
        weights: the loss weights of (L).
        target_std: σ*, the codes' RMS spread per dimension: the Lyapunov target Σ* = σ*² I (used
            when weights.lyapunov > 0) and the spread term's target (weights.spread > 0).
        attractors: the planted patterns, "class_blocks" (paper 2) or "random" (each class its own
            random half of the nodes, so each J_k, and hence each class's law, differs more).
        flow_noise: the codes z(T) come from the SDE (True, paper 2) or from its noise-free flow.
        code_scale: the decoder reads codes in units of code_scale: with codes pinned to a spread
            σ* ≪ 1, reading them in units of σ* keeps its first layer's inputs O(1), as Adam's fixed
            step size assumes.
        decoder_input: what the decoder reads. "centered": (z − z̄)/code_scale, z̄ the mean of the
            planted patterns. "chart": the basin's chart, [one-hot(k), (z − x*_k)/code_scale] with
            x*_k the nearest attractor: which basin, and where in it, both O(1) (with "centered" and
            code_scale ≪ 1 the attractors sit 1/code_scale apart and the style is a small
            difference between large inputs).
        architecture: "mlp" (the authors' MNIST encoder/decoder) or "conv" (two stride-2
            convolutions each way, :mod:`sanode.generate.conv`; needs the image shape).
        channels: the convolutions' widths (architecture "conv").
        encoder_relu: end the encoder with the authors' ReLU, z(0) ≥ 0 (see
            :class:`~sanode.generate.latent.Encoder` for why a pinned code may want both signs).
        seed: initialisation seed (encoder, coupling, decoder).
    """

    n_latent: int = 20
    hidden: tuple[int, ...] = (512, 256)
    eps: float = 0.06
    G: str = "identity"
    dt: float = 0.03
    steps: int = 50
    coupling: str = "projector"
    c: float = 0.125
    weights: LossWeights = field(default_factory=LossWeights)
    target_std: float = 0.05
    attractors: str = "class_blocks"
    flow_noise: bool = True
    code_scale: float = 1.0
    decoder_input: str = "centered"
    architecture: str = "mlp"
    channels: tuple[int, ...] = (32, 64)
    encoder_relu: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("n_latent", self.n_latent)
        object.__setattr__(self, "hidden", check_hidden(self.hidden))
        check_positive_float("eps", self.eps, allow_zero=True)
        if self.G not in G_CHOICES:
            raise ValueError(f"G must be one of {G_CHOICES}, got {self.G!r}")
        if self.G in ("learnable", "activity") and self.eps == 0:
            raise ValueError(f"G = {self.G!r} needs eps > 0 (with eps = 0 the noise, and G's gradient, vanish)")
        check_positive_float("dt", self.dt)
        check_positive_int("steps", self.steps)
        if self.coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {COUPLINGS}, got {self.coupling!r}")
        check_positive_float("c", self.c)
        check_positive_float("target_std", self.target_std)
        check_positive_float("code_scale", self.code_scale)
        if self.attractors not in ATTRACTOR_CHOICES:
            raise ValueError(f"attractors must be one of {ATTRACTOR_CHOICES}, got {self.attractors!r}")
        if self.decoder_input not in DECODER_INPUTS:
            raise ValueError(f"decoder_input must be one of {DECODER_INPUTS}, got {self.decoder_input!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 2 or not all(isinstance(c, int) and c > 0 for c in self.channels):
            raise ValueError(f"channels must be two positive integers, got {self.channels!r}")
        if not isinstance(self.encoder_relu, bool):
            raise ValueError(f"encoder_relu must be true or false, got {self.encoder_relu!r}")
        if not isinstance(self.flow_noise, bool):
            raise ValueError(f"flow_noise must be true or false, got {self.flow_noise!r}")
        if not isinstance(self.weights, LossWeights):
            object.__setattr__(self, "weights", LossWeights(**dict(self.weights)))
        if (self.weights.law > 0 or self.weights.prior > 0) and self.eps == 0:
            raise ValueError("the law and prior terms need eps > 0 (with eps = 0 there is no stationary law)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def recipe(cls, name: str, **overrides: Any) -> LatentConfig:
        """A named recipe (:data:`RECIPES`), with any field overridden.

        ``"authors"`` is paper 2's code: class blocks, ε = 0.06, G = I, the codes from the SDE.
        ``"law"`` generates with the SDE's own stationary law (issue 18, docs/RESULTS.md §17, run
        F4; train it 60 epochs with ``lr_schedule="cosine"``): random patterns, Hill constant
        c = 0.2 (wider basins), a learnable G at ε = 0.015, codes from the noise-free flow of an
        encoder without a final ReLU, pinned at a spread σ* = 0.01, the law term, and the decoder
        reading the codes in units of σ*.
        """
        if name not in RECIPES:
            raise ValueError(f"unknown latent recipe {name!r}; choose from {', '.join(RECIPES)}")
        return cls(**{**RECIPES[name], **overrides})

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LatentConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown latent-config key(s) {unknown}; valid: {', '.join(sorted(known))}")
        values = dict(raw)
        for key in ("hidden", "channels"):
            if key in values:
                values[key] = tuple(values[key])
        if "weights" in values and isinstance(values["weights"], dict):
            values["weights"] = LossWeights(**values["weights"])
        return cls(**values)

    def run_config(self, n_classes: int) -> RunConfig:
        """The classifier config of the latent dynamics (paper 2: β = λ = 1, class blocks of x_p)."""
        if self.n_latent < n_classes:
            raise ValueError(f"n_latent = {self.n_latent} cannot hold one block per class for K = {n_classes}")
        noise: dict[str, Any] | None = None
        if self.eps > 0:
            noise = {"kind": "activity", "eps": self.eps}
            if self.G != "activity":
                noise["G"], noise["kind"] = self.G, "additive"
        return RunConfig.from_dict(
            {
                "name": "latent",
                "model": {
                    "coupling": self.coupling,
                    "attractors": self.attractors,
                    "c": self.c,
                    "beta": 1.0,
                    "lam": 1.0,
                    "noise": noise,
                },
                "solver": {"method": "euler", "dt": self.dt, "steps": self.steps},
                "train": {"seed": self.seed, "dtype": "float32"},
            }
        )


RECIPES: dict[str, dict[str, Any]] = {
    "authors": {},
    "law": {
        "eps": 0.015,
        "G": "learnable",
        "attractors": "random",
        "flow_noise": False,
        "c": 0.2,
        "encoder_relu": False,
        "target_std": 0.01,
        "code_scale": 0.01,
        "weights": LossWeights(conv=0.0, law=1.0, spread=1.0),
    },
}
