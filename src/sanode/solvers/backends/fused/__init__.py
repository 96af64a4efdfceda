"""The fused adjoint backend: the explicit Euler (–Maruyama) map with a hand-written discrete adjoint.

For a :class:`~sanode.dynamics.drift.FrozenDrift` field the Euler map (paper 1, Sec. III) is

    x_{t+1} = x_t + Δt (g(x_t) + β h(x_t) Aᵀ) + noise.increment(x_t, ΔW_t),

and the exponential Euler map, for a linear decay g(x) = −γx, is the same map with other
coefficients. Both are written here as

    x_{t+1} = p x_t + r g(x_t) + q h(x_t) Aᵀ + noise.increment(x_t, ΔW_t)          (map)

(Euler: p = 1, r = Δt, q = Δt β; Euler with g = −γx: p = 1 − γΔt, r = 0, q = Δt β;
exponential Euler with g = −γx: p = e^{−γΔt}, r = 0, q = β (1 − e^{−γΔt})/γ).

Plain autograd records every element-wise operation of every step and keeps about seven
(batch, N) tensors per step. Here the forward runs without a graph and keeps one tensor per step,
the states x_0 … x_{T−1}; the backward is the adjoint recursion of the discrete map,

    a_T = ∂L/∂x_T,
    a_t = p a_{t+1} + r a_{t+1} ⊙ g′(x_t) + q (a_{t+1} A) ⊙ h′(x_t) + [∂ increment(x_t, ΔW_t)/∂x_t]ᵀ a_{t+1},
    ∂L/∂x_0 = a_0,        ∂L/∂A = q Σ_t a_{t+1}ᵀ h(x_t),

which gives the same gradients as autograd through the unrolled loop (to round-off).

The backward walks the trajectory in chunks of steps, latest first. Per chunk, everything that
depends on the stored states alone (h(x_t), h′(x_t), g′(x_t)) is computed in one pass over the
chunk; the sequential part is then one (B, N)@(N, N) GEMM and one or two element-wise operations
per step; and the chunk's share of ∂L/∂A is ONE product (chunk·B, N)ᵀ @ (chunk·B, N) of the
stacked adjoints and filtered states. Chunks have at least 4096 rows (so that this GEMM runs at
full rate) and there are at most 16 of them; their buffers add about 3/16 to the stored states.
``chunk_steps=steps`` makes ∂L/∂A a single product over the whole trajectory, at the price of
two more full (steps, B, N) stacks; it was also measured slower (the buffers no longer stay in
cache). When P_t = p is a constant, the recursion runs on adjoints rescaled by powers of p
within a chunk, ã_t = ã_{t+1} + (ã_{t+1} (κ/p) A) ⊙ s_t, which saves one pass per step; the
powers are restored once per chunk.

Small N. At N ≈ 50 a step's arithmetic is a few microseconds and each torch call costs about
as much in dispatch, so the number of calls per step is what counts. For the common case (linear
decay, no noise) the forward step is three element-wise calls for h (c + x², x/(c + x²), times x,
all into one buffer) and one addmm; the backward step is one GEMM and one addcmul. Both loops
run under ``torch.inference_mode`` (they only write into tensors made beforehand, so nothing
they return is an inference tensor), which drops the autograd bookkeeping of every call, and the
per-step views of the chunk buffers are made once per backward instead of once per chunk.
The backward's work buffers are kept per thread between calls (``scratch.ScratchPool``): freed and
re-allocated every step they cost page faults worth a third of a step at N = 49.
That is the floor of eager PyTorch, so small CPU problems of that common case (B · N² up to
``small.MAX_WORK``, Hill or identity filter) go further: the whole forward loop and the whole
adjoint recursion each run as one numba-compiled call (``small.py``, ``small_path.py``), and only
∂L/∂A stays a torch product. ``FusedAdjoint(small_kernels=False)`` (or, for the default,
``SANODE_SMALL_KERNELS=0``) keeps them on the eager loops.

Noise. For noise that declares ``additive = True`` and has no ``trainable_tensors()``, the increment
does not depend on x, so its vector–Jacobian product is zero and the backward needs no draws at
all (paper 2's ε G ΔW with G = I or diagonal costs one scaled ΔW per step, forward only). Any
other noise (state-dependent, or with trainable tensors such as a learnable G) gets its
vector–Jacobian product at each x_t, with the same ΔW_t, from the noise's
``increment_vjp(x, ΔW, a)`` when it returns one and there are no trainable tensors (paper 1's damped
noise: three times cheaper) and otherwise from a local autograd recompute of ``increment``. The ΔW_t
are kept from the forward only when all of them fit in 4 MiB (small problems); otherwise they are
not stored: the generator's state is saved before every step of the forward (a few kB each), and
the backward re-draws ΔW_t at step t into one reused (B, N) buffer, from a private generator (the
caller's generator is never touched by the backward). That keeps no noise tensor at all and is
faster than a kept stack on a CPU (a draw into a cache-resident buffer costs half as much).
Trainable tensors of the noise (``nn.Module`` parameters, or tensor attributes that require grad)
receive their gradients through the same local recompute.

Requirements the fused path relies on (all hold for sanode's reactions, filters and noises):
g, h, g′, h′ act element-wise; ``increment`` acts on each row of the state independently of the
others and uses no randomness of its own.

Files, one idea each: ``kernels.py`` (h and h′ into buffers), ``plan.py`` (the map's
coefficients and the plan), ``scratch.py`` (the pooled work buffers), ``function.py`` (the
autograd function: forward and adjoint backward), ``small.py`` and ``small_path.py`` (the
whole-loop numba kernels for small problems) and ``backend.py`` (:class:`FusedAdjoint`: what it
accepts, and the plan it builds).
"""

from sanode.solvers.backends.fused.backend import FusedAdjoint, FusedPathUnavailable

__all__ = ["FusedAdjoint", "FusedPathUnavailable"]
