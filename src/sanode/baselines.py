"""Reference classifiers for the robustness comparisons: an MLP and a neural ODE.

Both are ordinary ``nn.Module``s mapping inputs (n, N) to logits (n, C), trained with
cross-entropy by :func:`train_baseline` and scored by :mod:`sanode.robustness` through
:func:`sanode.robustness.logits_predict`. Their sizes can be matched to the N×N coupling of an
attractor classifier (N² parameters) with :func:`mlp_hidden_for` / :func:`ode_hidden_for`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from sanode.data.base import LabeledData
from sanode.training.fit import NonFiniteLoss, adam, fit
from sanode.validation import check_positive_float, check_positive_int

FIXED_GRID_METHODS: tuple[str, ...] = ("euler", "midpoint", "rk4", "heun2", "heun3", "explicit_adams", "implicit_adams")
ADAPTIVE_METHODS: tuple[str, ...] = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")

__all__ = [
    "ADAPTIVE_METHODS",
    "FIXED_GRID_METHODS",
    "BaselineDiverged",
    "MLPClassifier",
    "NeuralODEClassifier",
    "count_parameters",
    "mlp_hidden_for",
    "ode_hidden_for",
    "predict",
    "train_baseline",
]


class BaselineDiverged(RuntimeError):
    """The training loss of a baseline became NaN or infinite."""


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _budget(n_in: int, budget: int | None) -> int:
    return n_in * n_in if budget is None else check_positive_int("budget", budget)


def mlp_hidden_for(n_in: int, n_classes: int, budget: int | None = None) -> int:
    """Hidden width h giving :class:`MLPClassifier` about ``budget`` parameters (default N²).

    (N + 1) h + (h + 1) C = budget  ⇒  h = (budget − C) / (N + 1 + C), rounded, at least 1.
    """
    n_in, n_classes = check_positive_int("n_in", n_in), check_positive_int("n_classes", n_classes)
    return max(1, round((_budget(n_in, budget) - n_classes) / (n_in + 1 + n_classes)))


def ode_hidden_for(n_in: int, n_classes: int, budget: int | None = None) -> int:
    """Hidden width h giving :class:`NeuralODEClassifier` about ``budget`` parameters (default N²).

    Field (N + 1) h + (h + 1) N, readout (N + 1) C  ⇒  h = (budget − N − (N + 1) C) / (2N + 1).
    """
    n_in, n_classes = check_positive_int("n_in", n_in), check_positive_int("n_classes", n_classes)
    return max(1, round((_budget(n_in, budget) - n_in - (n_in + 1) * n_classes) / (2 * n_in + 1)))


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Build layers from ``seed`` without touching the global random state (None: use it)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class MLPClassifier(nn.Module):
    """logits = W₂ ReLU(W₁ x + b₁) + b₂: one hidden layer of width ``hidden``.

    Args:
        n_in: input size N.
        n_classes: C.
        hidden: hidden width (see :func:`mlp_hidden_for` to match a parameter budget).
        seed: initialise from this seed (None: torch's global generator).
    """

    def __init__(self, n_in: int, n_classes: int, hidden: int, *, seed: int | None = None):
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_classes = check_positive_int("n_classes", n_classes)
        with _seeded(seed):
            self.net = nn.Sequential(
                nn.Linear(n_in, check_positive_int("hidden", hidden)), nn.ReLU(), nn.Linear(hidden, n_classes)
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _VectorField(nn.Module):
    """dz/dt = W₂ tanh(W₁ z + b₁) + b₂, autonomous."""

    def __init__(self, n: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, n))

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.net(z)


class NeuralODEClassifier(nn.Module):
    """Neural ODE (Chen et al. 2018): z(0) = x, dz/dt = MLP(z) on [0, t₁], logits = W z(t₁) + b.

    The state lives in input space, like the attractor classifier's, so the two differ only in
    the vector field (a free MLP here, a planted CVFR drift there) and the readout.

    Args:
        n_in: input size N (= state size).
        n_classes: C.
        hidden: hidden width of the vector field (see :func:`ode_hidden_for`).
        t1: integration time t₁ > 0.
        method: a torchdiffeq method; fixed-grid ones use ``steps`` steps, adaptive ones
            ``rtol``/``atol``.
        steps: number of steps for fixed-grid methods.
        rtol, atol: tolerances for adaptive methods.
        seed: initialise from this seed (None: torch's global generator).
    """

    def __init__(
        self,
        n_in: int,
        n_classes: int,
        hidden: int,
        *,
        t1: float = 1.0,
        method: str = "rk4",
        steps: int = 10,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        seed: int | None = None,
    ):
        super().__init__()
        self.n_in = check_positive_int("n_in", n_in)
        self.n_classes = check_positive_int("n_classes", n_classes)
        check_positive_float("t1", t1)
        if method not in FIXED_GRID_METHODS + ADAPTIVE_METHODS:
            raise ValueError(f"unknown ODE method {method!r}; choose one of {', '.join(FIXED_GRID_METHODS + ADAPTIVE_METHODS)}")
        self.t1 = float(t1)
        self.method = method
        self.steps = check_positive_int("steps", steps)
        self.rtol, self.atol = float(rtol), float(atol)
        with _seeded(seed):
            self.field = _VectorField(n_in, check_positive_int("hidden", hidden))
            self.readout = nn.Linear(n_in, n_classes)

    def flow(self, x: Tensor) -> Tensor:
        """z(t₁), shape of ``x``."""
        t = torch.tensor([0.0, self.t1], dtype=x.dtype, device=x.device)
        if self.method in FIXED_GRID_METHODS:
            options = {"step_size": self.t1 / self.steps}
            return odeint(self.field, x, t, method=self.method, options=options)[-1]
        return odeint(self.field, x, t, method=self.method, rtol=self.rtol, atol=self.atol)[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.flow(x))


def _check_data(model: nn.Module, data: LabeledData) -> None:
    n_in, n_classes = getattr(model, "n_in", None), getattr(model, "n_classes", None)
    if n_in is not None and data.n_features != n_in:
        raise ValueError(f"the model takes {n_in} features, the data have {data.n_features}")
    if n_classes is not None and data.n_classes > n_classes:
        raise ValueError(f"the model has {n_classes} outputs, the data have {data.n_classes} classes")


def train_baseline(
    model: nn.Module,
    train_data: LabeledData,
    *,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    input_noise: float = 0.0,
) -> nn.Module:
    """Minimise the cross-entropy of ``model``'s logits with Adam; returns the trained model.

    With ``input_noise`` = s > 0 every training batch is augmented with fresh Gaussian noise,
    x → x + s ξ with ξ ~ N(0, I) (noise on the data, the baseline's counterpart of noise in the
    dynamics; drawn from the seeded stream, so runs stay reproducible).

    Args:
        model: maps (n, N) to (n, C) logits.
        train_data: inputs and labels.
        epochs: passes over the data.
        batch_size: minibatch size.
        lr: Adam's learning rate.
        seed: seeds the minibatch order and the augmentation noise (same seed, same model → same
            result on CPU).
        input_noise: standard deviation s ≥ 0 of the Gaussian input augmentation (0: none).

    Raises:
        ValueError: bad sizes or hyper-parameters.
        BaselineDiverged: the loss became NaN or infinite.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_float("input_noise", input_noise, allow_zero=True)
    _check_data(model, train_data)
    param = next(model.parameters(), None)
    if param is None:
        raise ValueError("the model has no parameters to train")
    x, y, order = train_data.x.to(param.dtype), train_data.y, torch.Generator().manual_seed(seed)
    jitter = torch.Generator(device=x.device).manual_seed(seed + 1)
    opt, _ = adam(model.parameters(), lr)

    def augmented(xb: Tensor) -> Tensor:
        if input_noise == 0:
            return xb
        return xb + input_noise * torch.randn(xb.shape, generator=jitter, dtype=xb.dtype, device=xb.device)

    model.train()
    try:
        fit(
            lambda b: nn.functional.cross_entropy(model(augmented(b[0])), b[1]),
            (x, y),
            opt,
            epochs=epochs,
            batch_size=batch_size,
            generator=order,
        )
    except NonFiniteLoss as err:
        raise BaselineDiverged(f"{err}; try a smaller lr") from err
    model.eval()
    return model


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, *, batch_size: int = 2000) -> Tensor:
    """Predicted labels argmax_c logits_c, shape (n,)."""
    check_positive_int("batch_size", batch_size)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else x.dtype
    model.eval()
    parts = [model(x[i : i + batch_size].to(dtype)).argmax(-1) for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64, device=x.device)
