"""The noise contract: what a diffusion term must provide to be integrated and trained.

A noise turns the state x and a Brownian increment ΔW ~ N(0, Δt I) into the diffusion term of
one Itô step,

    x_{t+1} = (drift step of the scheme) + increment(x_t, ΔW_t).

Every solver backend reads a noise through this class only: no attribute is looked up by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from sanode.registry import Registry

__all__ = ["NOISES", "Noise"]


class Noise(ABC):
    """Base class of every noise (subclass it, with :class:`torch.nn.Module` when it has parameters).

    Attributes:
        additive: True when ``increment`` does not depend on x (ε G ΔW). The fused adjoint then
            skips the noise's vector–Jacobian product unless the noise has trainable tensors.
    """

    additive: bool = False

    @abstractmethod
    def increment(self, x: Tensor, dw: Tensor) -> Tensor:
        """The diffusion term of one step, b(x) ΔW, shape of ``x``.

        It must act on each row of ``x`` independently and use no randomness of its own (the
        fused adjoint replays it with the same ΔW in its backward).
        """

    def increment_vjp(self, x: Tensor, dw: Tensor, cotangent: Tensor) -> Tensor | None:
        """[∂ increment(x, ΔW)/∂x]ᵀ a in closed form, or None (the default) when there is none.

        The fused adjoint calls it at every step of its backward when the noise depends on x and
        has no trainable tensors; None makes it recompute the product with autograd instead.
        """
        return None

    def add_increment_(self, out: Tensor, x: Tensor, dw: Tensor) -> Tensor:
        """out += increment(x, ΔW), in place (``out`` has the shape of x). The fused adjoint's
        forward calls this; a noise may override it to skip the temporary increment."""
        return out.add_(self.increment(x, dw))

    def add_increment_vjp_(self, out: Tensor, x: Tensor, dw: Tensor, cotangent: Tensor, alpha: float = 1.0) -> bool:
        """out += alpha · increment_vjp(x, ΔW, a) in place; False (out untouched) when there is no
        closed form. The fused adjoint's backward calls this; a noise may override it to
        accumulate without a temporary."""
        vjp = self.increment_vjp(x, dw, cotangent)
        if vjp is None:
            return False
        out.add_(vjp, alpha=alpha)
        return True

    def trainable_tensors(self) -> list[Tensor]:
        """Tensors of the noise that require grad: module parameters and tensor attributes.

        The fused adjoint hands them to its autograd function so that they receive gradients.
        """
        found: dict[int, Tensor] = {}
        if isinstance(self, nn.Module):
            found.update((id(p), p) for p in self.parameters() if p.requires_grad)
        found.update((id(v), v) for v in vars(self).values() if isinstance(v, Tensor) and v.requires_grad)
        return list(found.values())


#: Registered noise builders: ``NOISES.build({"kind": "damped", "sigma": 0.1}, attractors=..., n_nodes=...)``.
NOISES: Registry[Noise] = Registry("noise")


def check_state(x: Tensor, n_nodes: int) -> None:
    """Refuse states whose last axis is not the N nodes of the noise."""
    if x.ndim < 1 or x.shape[-1] != n_nodes:
        raise ValueError(f"x must have shape (..., {n_nodes}), got {tuple(x.shape)}")


def check_increment_args(x: Tensor, dw: Tensor, n_nodes: int) -> None:
    """Refuse an increment call whose x and ΔW disagree in shape or with the noise's N."""
    check_state(x, n_nodes)
    if x.shape != dw.shape:
        raise ValueError(f"x and dW must have the same shape, got {tuple(x.shape)} and {tuple(dw.shape)}")
