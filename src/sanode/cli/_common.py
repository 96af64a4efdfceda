"""What the ``sanode`` commands share: the ``--json`` and device flags, and the printed score table.

Every command accepts ``--json``; its last stdout line is then one JSON object (:func:`emit`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sanode.analysis.stability import MARGINAL_TOLERANCE, verdict
from sanode.config import RunConfig
from sanode.distributed import AMP_DTYPES, available_devices

__all__ = [
    "accuracies",
    "add_data_dir_flag",
    "add_device_arguments",
    "add_device_flag",
    "add_json_flag",
    "data_dir_override",
    "emit",
    "notice",
    "score_table",
    "with_data_dir",
]

JSON_HELP = "print one JSON object as the last stdout line"


def float_list(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers ("0.05,0.1"; "" is the empty list)."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def add_json_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--json`` (unless ``parser`` has it already): the last stdout line becomes one JSON object."""
    if not any(action.dest == "json" for action in parser._actions):
        parser.add_argument("--json", action="store_true", help=JSON_HELP)
    return parser


def add_device_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--device`` for a command that runs a trained model (evaluate, stability, attack, repeat)."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    return parser


def add_device_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--device`` and ``--amp`` for a training command (values go to ``train(device=, amp=)``)."""
    parser.add_argument(
        "--device",
        default="cpu",
        help=f"where to train: cpu, cuda, cuda:N or mps (here: {', '.join(available_devices())}); "
        "under torchrun, cuda means cuda:LOCAL_RANK",
    )
    parser.add_argument(
        "--amp",
        choices=tuple(AMP_DTYPES),
        default=None,
        help="mixed precision for the forward pass: bf16 (CPU or CUDA) or fp16 (CUDA, with loss scaling)",
    )
    return parser


def add_data_dir_flag(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--data-dir`` for a command that reads data (sets ``data.data_dir``; no fallback elsewhere)."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the dataset files (MNIST / Fashion-MNIST IDX); used as given, never replaced "
        "by another copy (default: data.data_dir, then SANODE_DATA and sanode's search path)",
    )
    return parser


def data_dir_override(args: argparse.Namespace) -> list[str]:
    """``--data-dir`` as a ``--set`` override (empty when not given)."""
    data_dir = getattr(args, "data_dir", None)
    return [f"data.data_dir={json.dumps(str(data_dir))}"] if data_dir is not None else []


def with_data_dir(config: RunConfig, args: argparse.Namespace) -> RunConfig:
    """``config`` reading its data from ``--data-dir`` when given (for commands that load a run)."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir is not None:
        config.data.data_dir = str(data_dir)
    return config


def notice(text: str) -> None:
    """A line on stderr the user should read, though the command goes on (or succeeded)."""
    print(f"sanode: notice: {text}", file=sys.stderr)


def emit(payload: dict[str, Any], as_json: bool) -> None:
    """Print ``payload`` as one JSON line when ``--json`` was given."""
    if as_json:
        print(json.dumps(payload, default=str))


def accuracies(scores: dict[str, Any]) -> dict[str, float]:
    """``{"inner_product": …, "nearest": …, "threshold": …}`` from the ``acc_*`` keys of ``scores``."""
    return {k[len("acc_") :]: v for k, v in scores.items() if k.startswith("acc_")}


def score_table(scores: dict[str, Any], stab: list[dict[str, Any]] | None) -> str:
    """The test accuracies of the three readout rules and, given ``stab``, the worst max Re λ(J)."""
    lines = [
        f"test accuracy  inner product {scores['acc_inner_product']:.4f}  nearest {scores['acc_nearest']:.4f}  "
        f"threshold {scores['acc_threshold']:.4f} (undecided {scores['undecided_fraction']:.4f})"
    ]
    if "settled_acc_nearest" in scores:  # the answer at t → ∞ first (issue 16)
        lines.insert(
            0,
            f"settled accuracy (t → ∞, nearest attractor) {scores['settled_acc_nearest']:.4f}  inner product "
            f"{scores['settled_acc_inner_product']:.4f}  (unsettled {scores['unsettled_fraction']:.4f}, "
            f"elsewhere {scores['elsewhere_fraction']:.4f}); at T:",
        )
    if stab:
        worst = max(s["max_real_eigenvalue"] for s in stab)
        status = {
            "stable": "all stable",
            "marginal": f"MARGINAL: within {MARGINAL_TOLERANCE:g} of 0, linear stability undecided",
            "unstable": "UNSTABLE",
        }[verdict(worst)]
        line = f"stability      max Re λ(J) over attractors {worst:.4g} ({status})"
        norms = [s["log_norm"] for s in stab if "log_norm" in s]
        if norms:
            top = max(norms)
            line += f"; log-norm μ₂(J) {top:.4g} ({'contracting' if top < 0 else 'transient growth possible'})"
        lines.append(line)
    return "\n".join(lines)
