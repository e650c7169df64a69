"""Prometheus text metrics: queries, latency histogram, library size."""

from __future__ import annotations

import threading

BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.queries = 0

    def observe(self, seconds: float) -> None:
        with self.lock:
            self.queries += 1
            self.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.counts[i] += 1
            self.counts[-1] += 1

    def render(self, library_counts) -> str:
        with self.lock:
            lines = [
                "# HELP vsearch_queries_total Search requests answered.",
                "# TYPE vsearch_queries_total counter",
                f"vsearch_queries_total {self.queries}",
                "# HELP vsearch_query_seconds Search latency.",
                "# TYPE vsearch_query_seconds histogram",
            ]
            for bound, count in zip(BUCKETS, self.counts):
                lines.append(f'vsearch_query_seconds_bucket{{le="{bound}"}} {count}')
            lines += [
                f'vsearch_query_seconds_bucket{{le="+Inf"}} {self.counts[-1]}',
                f"vsearch_query_seconds_sum {self.total:.6f}",
                f"vsearch_query_seconds_count {self.queries}",
                "# HELP vsearch_videos Videos indexed.",
                "# TYPE vsearch_videos gauge",
                f"vsearch_videos {library_counts.indexed}",
                "# HELP vsearch_clips Clips indexed.",
                "# TYPE vsearch_clips gauge",
                f"vsearch_clips {library_counts.clips}",
            ]
        return "\n".join(lines) + "\n"
