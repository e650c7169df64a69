"""What an ingest did, for people (text) and scripts (JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class IngestSummary:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    removed: list[str] = field(default_factory=list)
    clips: int = 0
    seconds: float = 0.0
    # summed per stage; decode and preprocess run in workers, so they overlap embedding; "start": joining or
    # starting a Ray cluster and loading its actors' models (0 for a local ingest)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("start", "decode", "preprocess", "embed", "write", "duplicates"), 0.0))
    interrupted: bool = False

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        data["clips_per_second"] = round(self.clips_per_second, 3)
        data["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        data["seconds"] = round(self.seconds, 3)
        return data

    def as_text(self) -> str:
        lines = [
            f"indexed {len(self.indexed)}, unchanged {self.unchanged}, failed {len(self.failed)}, "
            f"removed {len(self.removed)} video(s); {self.clips} clip(s) embedded in {self.seconds:.1f} s "
            f"({self.clips_per_second:.2f} clips/s)",
            "stage time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
            + " (decode and preprocess summed over workers, overlapping embed)",
        ]
        for path, reason in self.failed:
            lines.append(f"failed: {path}: {reason}")
        if self.interrupted:
            lines.append("interrupted: what was indexed is kept; run the same command again to resume")
        return "\n".join(lines)
