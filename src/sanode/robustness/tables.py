"""Writing a robustness table as CSV and JSON, atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sanode.io.atomic import atomic_write_text

__all__ = ["write_table"]


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
