"""Views of sanode models for the integrators researchers already use.

- :func:`as_torchdiffeq`: the drift as a ``torchdiffeq.odeint`` right-hand side ``f(t, y)``, so
  adaptive solvers (dopri5, ...) can check that a fixed-step unroll has converged.
- :func:`as_torchsde`: the model as a ``torchsde.sdeint`` SDE (``f``, ``g``, ``noise_type``,
  ``sde_type = "ito"``) for either noise, and :func:`grid_brownian`, a Brownian path built from
  given increments so that torchsde and sanode can be run on the very same path.

torchsde is optional (``pip install sanode[interop]``); it is imported only by the SDE view.
"""

from sanode.interop.ode import ODEFunc, as_torchdiffeq
from sanode.interop.sde import SDEView, as_torchsde, grid_brownian

__all__ = ["ODEFunc", "SDEView", "as_torchdiffeq", "as_torchsde", "grid_brownian"]
