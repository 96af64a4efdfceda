"""What the ``sanode`` commands share: the ``--json`` and device flags, and the printed score table.

Every command accepts ``--json``; its last stdout line is then one JSON object (:func:`emit`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sanode.distributed import AMP_DTYPES, available_devices

__all__ = ["accuracies", "add_device_arguments", "add_device_flag", "add_json_flag", "emit", "score_table"]

JSON_HELP = "print one JSON object as the last stdout line"


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
        lines.append(f"stability      max Re λ(J) over attractors {worst:.4f} ({'all stable' if worst < 0 else 'UNSTABLE'})")
    return "\n".join(lines)
