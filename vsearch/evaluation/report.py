"""`vsearch eval`'s table: one column per run, one row per measure, then what could not be used."""

from __future__ import annotations

from vsearch.evaluation.run import Evaluation

ROWS = (
    ("queries", "queries"),
    ("recall@1", "recall@1"),
    ("recall@5", "recall@5"),
    ("recall@10", "recall@10"),
    ("first hit, median rank", "first_hit_median_rank"),
    ("first hit, mean rank", "first_hit_mean_rank"),
    ("no hit in the top k", "no_hit_in_top_k"),
    ("moment recall@1, IoU>=0.5", "moment_recall@1_iou0.5"),
    ("moment recall@1, IoU>=0.7", "moment_recall@1_iou0.7"),
)


def as_table(evaluation: Evaluation) -> str:
    runs = evaluation.runs
    heads = [run["name"] for run in runs]
    width = max([len(label) for label, _ in ROWS] + [len("median query ms")])
    columns = [max(10, len(h)) for h in heads]
    lines = ["".ljust(width) + "  " + "  ".join(h.rjust(c) for h, c in zip(heads, columns))]
    rows = [(label, [run["metrics"].get(key) for run in runs]) for label, key in ROWS]
    rows.append(("median query ms", [run["median_query_ms"] for run in runs]))
    for label, values in rows:
        lines.append(label.ljust(width) + "  " + "  ".join(_cell(v).rjust(c) for v, c in zip(values, columns)))
    lines.append(f"(k = {evaluation.k}; ranking: {', '.join(run['ranking'] or '-' for run in runs)})")
    return "\n".join(lines)


def problems(evaluation: Evaluation) -> list[str]:
    """What was left out, a line each: bad label lines, labelled files not in the library."""
    out = [f"labels line {line}: {problem}" for line, problem in evaluation.labels.problems]
    for path, lines in evaluation.missing.items():
        out.append(f"not in the library (lines {', '.join(map(str, lines))}): {path}")
    for query in evaluation.unanswerable:
        out.append(f"query left out (none of its videos is in the library): {query}")
    return out


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return str(value)
