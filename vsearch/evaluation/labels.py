"""Labels: the moments a query should find, read from a JSON Lines (or CSV) file.

One relevant moment a line: `{"query": "...", "path": "...", "start": s, "end": e}` (CSV: a header
with those columns). A query may have several lines. Paths are absolute, or relative to the labels
file's folder. A bad line is reported with its number and the reason; the others are used.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("query", "path", "start", "end")


@dataclass(frozen=True)
class Moment:
    """A span of a video that answers a query."""

    query: str
    path: str  # absolute, as ingest records paths
    start: float
    end: float
    line: int = 0  # where it came from in the labels file

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class Labels:
    source: Path
    moments: list[Moment] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, what is wrong)

    def queries(self) -> dict[str, list[Moment]]:
        """Each query with its moments, in the order the queries first appear."""
        grouped: dict[str, list[Moment]] = {}
        for moment in self.moments:
            grouped.setdefault(moment.query, []).append(moment)
        return grouped


class LabelsError(ValueError):
    """The labels file cannot be read at all."""


def read_labels(path: Path) -> Labels:
    """The moments in the labels file at `path` (JSON Lines, or CSV when it ends in .csv)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelsError(f"cannot read the labels file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    labels = Labels(path.absolute())
    rows = _csv_rows(text, labels) if path.suffix.lower() == ".csv" else _json_rows(text, labels)
    base = path.absolute().parent
    for number, row in rows:
        try:
            labels.moments.append(_moment(row, base, number))
        except ValueError as exc:
            labels.problems.append((number, str(exc)))
    return labels


def _json_rows(text: str, labels: Labels):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            labels.problems.append((number, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict):
            labels.problems.append((number, "not a JSON object"))
            continue
        yield number, row


def _csv_rows(text: str, labels: Labels):
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        labels.problems.append((1, f"the header lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})"))
        return
    for row in reader:
        yield reader.line_num, row


def _moment(row: dict, base: Path, number: int) -> Moment:
    missing = [c for c in COLUMNS if row.get(c) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    query = row["query"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("the query must be a non-empty text")
    if not isinstance(row["path"], str):
        raise ValueError("the path must be a text")
    start, end = _seconds(row["start"], "start"), _seconds(row["end"], "end")
    if start < 0 or end <= start:
        raise ValueError(f"the moment must have 0 <= start < end (got {start:g}-{end:g})")
    path = Path(row["path"]).expanduser()
    absolute = os.path.normpath(path if path.is_absolute() else base / path)
    return Moment(query.strip(), absolute, start, end, number)


def _seconds(value, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number of seconds")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds (got {value!r})") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds")
    return seconds
