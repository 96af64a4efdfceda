"""Writing a robustness table as CSV and JSON, atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sanode.corruptions import CORRUPTIONS
from sanode.io.atomic import atomic_write_text

__all__ = ["corruption_markdown", "corruption_matrix", "write_table"]


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN; an empty cell reads the same in the CSV
    return value


def write_table(rows: Sequence[Mapping[str, Any]], path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``rows`` as ``<stem>.csv`` and ``<stem>.json`` (each atomically).

    Columns are the union of the rows' keys in order of first appearance; a missing cell is empty.

    Returns:
        (csv path, json path).
    """
    if isinstance(rows, Mapping) or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError("rows must be a sequence of mappings (one dict per table row)")
    stem = Path(path_stem)
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _jsonable(value) for key, value in row.items()})
    clean = [{key: _jsonable(value) for key, value in row.items()} for row in rows]
    csv_path = atomic_write_text(stem.with_name(stem.name + ".csv"), buffer.getvalue())
    json_path = atomic_write_text(stem.with_name(stem.name + ".json"), json.dumps(clean, indent=2, allow_nan=False) + "\n")
    return csv_path, json_path


def corruption_matrix(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], float]]:
    """(models, corruptions, (model, corruption) → accuracy averaged over severities 1–5)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    names = [c for c in CORRUPTIONS if any(r["corruption"] == c for r in rows)]
    cells: dict[tuple[str, str], float] = {}
    for m in models:
        for c in names:
            accs = [r["acc"] for r in rows if r["model"] == m and r["corruption"] == c]
            cells[(m, c)] = sum(accs) / len(accs)
    return models, names, cells


def corruption_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table: one row per corruption, one column per model, accuracy (%) averaged over severities."""
    models, names, cells = corruption_matrix(rows)
    clean = {m: next((r["acc"] for r in rows if r["model"] == m and r["severity"] == 0), None) for m in models}
    lines = ["| corruption | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    lines.append("| clean | " + " | ".join("–" if (acc := clean[m]) is None else f"{100 * acc:.1f}" for m in models) + " |")
    lines += ["| " + c + " | " + " | ".join(f"{100 * cells[(m, c)]:.1f}" for m in models) + " |" for c in names]
    mean = {m: sum(cells[(m, c)] for c in names) / len(names) for m in models}
    lines.append("| **mean** | " + " | ".join(f"**{100 * mean[m]:.1f}**" for m in models) + " |")
    return "\n".join(lines) + "\n"
