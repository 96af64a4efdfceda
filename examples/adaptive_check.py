"""Has the fixed-step unroll converged? Compare it with an adaptive torchdiffeq solver.

A trained classifier reads its state at T = steps · Δt after a fixed-step Euler unroll. This
script integrates the same drift with dopri5 (tolerances 1e-8) through ``sanode.interop`` and
reports how far the two final states are apart and whether they are classified alike.

    python examples/adaptive_check.py --epochs 3
"""

from __future__ import annotations

import argparse
import tempfile

import torch
import torchdiffeq

import sanode
from sanode.data import load_splits
from sanode.interop import as_torchdiffeq


def main(epochs: int = 3, n_test: int = 200) -> dict[str, float]:
    config = sanode.load_config("paper1-letters", [f"train.epochs={epochs}", f"data.n_test={n_test}"])
    with tempfile.TemporaryDirectory() as run_dir:
        model = sanode.train(config, run_dir).model
    x0 = load_splits("letters", n_test=n_test, seed=config.data.seed).test.x.to(model.attractors.dtype)
    T = model.dt * model.steps
    with torch.no_grad():
        fixed = model(x0)
        adaptive = torchdiffeq.odeint(as_torchdiffeq(model), x0, torch.tensor([0.0, T]), method="dopri5", rtol=1e-8, atol=1e-8)[
            -1
        ]
    agree = (
        (
            sanode.readout.classify(fixed, model.attractors, "nearest")
            == sanode.readout.classify(adaptive, model.attractors, "nearest")
        )
        .double()
        .mean()
    )
    report = {"T": T, "max_abs_difference": float((fixed - adaptive).abs().max()), "same_class": float(agree)}
    print(
        f"Euler (dt = {model.dt}, {model.steps} steps) vs dopri5 at T = {T:g}: "
        f"max |Δx| = {report['max_abs_difference']:.2e}, same class for {100 * report['same_class']:.1f} % of inputs"
    )
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-test", type=int, default=200)
    args = parser.parse_args()
    main(args.epochs, args.n_test)
