"""`vsearch serve` under load while `vsearch ingest` adds videos beside it; prints JSON figures.

    python bench/load.py                          # full-size X-CLIP (random weights), 16 clients, 60 s
    python bench/load.py --tiny --seconds 20      # a tiny random X-CLIP: a quick check of the harness
    python bench/load.py --bound-ms 2000          # exit 1 when a request takes longer (default 5000 ms)

Builds a starting library with the real CLI (`vsearch ingest`), starts `vsearch serve` on a free
127.0.0.1 port, warms it up (the first search loads the model and the index), then starts a second
`vsearch ingest` of more videos on the same data dir and runs N clients, each a thread with one
keep-alive connection sending /search requests back to back (varied prompts, k and pages) for D
seconds; the ingest, if still running, is then let finish. Printed: requests, errors by status,
latency p50/p90/p99/max, throughput, the server's resident memory (VmRSS sampled from /proc every
0.25 s: after warm-up, p50, max, at the end, and the kernel's high-water mark VmHWM), whether the
ingest finished within the window, its exit status and the latency of the requests sent while it ran,
how much the server's library grew (clips in
the database from /health, clips searchable from a search's `candidates`), and the server's exit
status and stop time after SIGTERM. Exits 1 on any error response, on a request slower than
--bound-ms, on a failed ingest, or when the server does not stop cleanly.

The helpers (start a server, wait for it, sample its memory, run the clients) are what
tests/api/test_load.py and tests/api/test_serve_process.py use.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = [
    "a red car",
    "a dog catching a ball",
    "people walking in the street",
    "a white square moving",
    "eating spaghetti",
    "a man playing music",
    "a woman dancing",
    "blue water",
    "a green tree",
    "someone cooking dinner",
    "kids playing sports",
    "a bike in the rain",
    "a black cat on a sofa",
    "a movie screen",
    "a yellow logo",
    "people go shopping",
    "the sky at night",
    "a person running",
    "hello",
    "a video of a monitor",
]
SEARCHABLE_QUERY = {"q": "a white square", "k": "1000", "rerank": "false"}  # candidates: the clips searchable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(env: dict, port: int, log: Path, *args: str) -> subprocess.Popen:
    """`python -m vsearch serve` on 127.0.0.1:`port`, stdout and stderr to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vsearch", "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_ingest(env: dict, paths: list[Path], log: Path) -> subprocess.Popen:
    """`python -m vsearch ingest PATHS --json`: the summary to `log` with ".json" for ".log", stderr to `log`."""
    with open(log, "wb") as err, open(log.with_suffix(".json"), "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vsearch", "ingest", *map(str, paths), "--json", "-q"],
            env=env,
            stdout=out,
            stderr=err,
        )


def ingest_summary(log: Path) -> dict | None:
    """Clips, seconds and clips/s from the summary of the ingest that `start_ingest` logged to `log`."""
    try:
        summary = json.loads(log.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return {key: summary.get(key) for key in ("clips", "seconds", "clips_per_second", "failed")}


def get_json(port: int, path: str, params: dict | None = None, timeout: float = 120.0) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path + ("?" + urllib.parse.urlencode(params) if params else ""))
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        return json.loads(body)
    finally:
        connection.close()


def wait_until_up(process: subprocess.Popen, port: int, log: Path, timeout: float = 180.0) -> None:
    """Until /health answers; raises with the server's log when it exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            get_json(port, "/health", timeout=5.0)
            return
        except (OSError, RuntimeError):
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health in {timeout:g} s:\n{log.read_text()[-3000:]}")


def rss_mb(pid: int, field_name: str = "VmRSS") -> float | None:
    """Resident memory of `pid` from /proc/PID/status (VmHWM: its high-water mark); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


class MemorySampler(threading.Thread):
    """VmRSS of a process every `interval` seconds, until `stop()`."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append(value)
            self._stop_event.wait(self.interval)

    def stop(self) -> list[float]:
        self._stop_event.set()
        self.join()
        return self.samples


class ExitWatch(threading.Thread):
    """When a process exits (perf_counter), noted by a thread that waits for it."""

    def __init__(self, process: subprocess.Popen):
        super().__init__(daemon=True)
        self.process, self.exited = process, 0.0
        self.start()

    def run(self) -> None:
        self.process.wait()
        self.exited = time.perf_counter()

    def at(self) -> float:
        self.join()
        return self.exited


@dataclass
class Sample:
    status: int | str  # the HTTP status, or the exception's name when no answer came
    seconds: float
    started: float  # time.perf_counter() when it was sent


def client(port: int, prompts: list[str], deadline: float, seed: int, timeout: float, out: list[Sample]) -> None:
    """Searches back to back on one keep-alive connection until `deadline` (monotonic)."""
    rng = random.Random(seed)
    connection = None
    while time.monotonic() < deadline:
        k = rng.choice((5, 10, 10, 20))
        params = {"q": rng.choice(prompts), "k": k, "offset": k if rng.random() < 0.2 else 0}
        started = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            connection.request("GET", "/search?" + urllib.parse.urlencode(params))
            response = connection.getresponse()
            response.read()
            status: int | str = response.status
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
            if connection is not None:
                connection.close()
            connection = None
        out.append(Sample(status, time.perf_counter() - started, started))
    if connection is not None:
        connection.close()


def run_clients(
    port: int, clients: int, seconds: float, prompts: list[str] = PROMPTS, timeout: float = 300.0
) -> tuple[list[Sample], float]:
    """`clients` threads searching for `seconds`; returns every request's outcome and the wall time."""
    deadline = time.monotonic() + seconds
    results: list[list[Sample]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=client, args=(port, prompts, deadline, n, timeout, results[n]), daemon=True)
        for n in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [sample for samples in results for sample in samples], time.perf_counter() - started


def latency_ms(samples: list[Sample]) -> dict:
    import numpy as np

    ms = np.array([sample.seconds * 1000 for sample in samples]) if samples else np.zeros(1)
    return {
        name: round(float(np.percentile(ms, q)), 1) for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
    }


def latency_summary(samples: list[Sample], wall: float) -> dict:
    errors: dict[str, int] = {}
    for sample in samples:
        if sample.status != 200:
            errors[str(sample.status)] = errors.get(str(sample.status), 0) + 1
    return {
        "requests": len(samples),
        "errors": errors,
        "latency_ms": latency_ms(samples),
        "requests_per_second": round(len(samples) / wall, 2),
    }


def memory_summary(warm: float, samples: list[float], end: float | None, hwm: float | None) -> dict:
    import numpy as np

    return {
        "after_warm_up": round(warm, 1),
        "p50": round(float(np.percentile(samples, 50)), 1) if samples else None,
        "max_sampled": round(max(samples), 1) if samples else None,
        "end": round(end, 1) if end is not None else None,
        "high_water_mark": round(hwm, 1) if hwm is not None else None,
        "samples": len(samples),
    }


def library_size(port: int) -> dict:
    return {
        "clips_in_database": get_json(port, "/health")["clips"],
        "clips_searchable": get_json(port, "/search", SEARCHABLE_QUERY)["candidates"],
    }


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60.0) -> tuple[int | None, float]:
    """Send `sig` and wait; (exit status, seconds to exit), killing it after `timeout` (status None)."""
    started = time.perf_counter()
    process.send_signal(sig)
    try:
        return process.wait(timeout), round(time.perf_counter() - started, 2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None, round(time.perf_counter() - started, 2)


def run_load(
    env: dict,
    incoming: list[Path],
    logs: Path,
    *,
    clients: int = 16,
    seconds: float = 60.0,
    warm_up: int = 8,
    ingest_timeout: float = 600.0,
) -> dict:
    """`vsearch serve` over the ingested data dir that `env` names, searched by `clients` for `seconds` while
    `vsearch ingest` of `incoming` runs beside it (then let finish, for at most `ingest_timeout` more); the figures.
    The server and ingest logs go to `logs`."""
    port = free_port()
    server_log, ingest_log = logs / "serve.log", logs / "ingest.log"
    server = start_server(env, port, server_log)
    ingest = None
    try:
        wait_until_up(server, port, server_log)
        for n in range(warm_up):  # loads the model and the index; the allocator reaches its working set
            get_json(port, "/search", {"q": PROMPTS[n % len(PROMPTS)], "k": 10})
        before = library_size(port)
        warm = rss_mb(server.pid)
        sampler = MemorySampler(server.pid)
        sampler.start()
        ingest_started = time.perf_counter()
        ingest = start_ingest(env, incoming, ingest_log)
        exited = ExitWatch(ingest)
        samples, wall = run_clients(port, clients, seconds)
        in_window = not exited.is_alive()  # (not ingest.poll(): the watching thread holds the wait)
        try:  # the rest of the ingest, without the clients
            ingest_status = ingest.wait(ingest_timeout)
        except subprocess.TimeoutExpired:
            ingest_status = stop(ingest, signal.SIGINT)[0]  # 130: stopped; what it wrote stays
        ingest_ended = exited.at()
        ingest_seconds = round(ingest_ended - ingest_started, 1)
        after = library_size(port)
        memory = sampler.stop()
        end, hwm = rss_mb(server.pid), rss_mb(server.pid, "VmHWM")
        server_status, server_stop_seconds = stop(server)
    finally:
        for process in (ingest, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    beside = [sample for sample in samples if sample.started < ingest_ended]
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        **latency_summary(samples, wall),
        "server_rss_mb": memory_summary(warm, memory, end, hwm),
        "ingest": {
            "finished_in_window": in_window,
            "exit_status": ingest_status,  # 130: stopped (SIGINT) after --ingest-timeout
            "seconds": ingest_seconds,  # from its start (with the clients') to its exit
            "requests_sent_while_it_ran": len(beside),
            "latency_ms_of_those": latency_ms(beside),
            "summary": ingest_summary(ingest_log),
            "log_tail": ingest_log.read_text(errors="replace")[-300:] if ingest_status != 0 else None,
        },
        "library": {
            "before": before,
            "after": after,
            "searchable_clips_added": after["clips_searchable"] - before["clips_searchable"],
        },
        "server_stop": {
            "signal": "SIGTERM",
            "exit_status": server_status,
            "seconds": server_stop_seconds,
            "log_tail": server_log.read_text(errors="replace")[-300:] if server_status != 0 else None,
        },
    }


def environment(data_dir: Path, model: str | Path, **settings: str) -> dict:
    """This process's environment plus what makes a `vsearch` process open the library in `data_dir` with `model`,
    and any other VSEARCH_* `settings`."""
    return {**os.environ, "VSEARCH_DATA_DIR": str(data_dir), "VSEARCH_MODEL": str(model), **settings}


def cpu_environment(settings, **extra: str) -> dict:
    """`environment` for the library that `settings` (vsearch.config.Settings) open, on the CPU in fp32
    with the default BLAS (no start-up measurement): for tests."""
    return environment(settings.data_dir, settings.model, VSEARCH_DB_URL=settings.db_url or "",
                       VSEARCH_DEVICE="cpu", VSEARCH_PRECISION="fp32", VSEARCH_CPU_LINEAR="blas", **extra)


def make_videos(folder: Path, count: int, seconds: float, width: int, height: int, first_hue: int) -> Path:
    from vsearch.media.synthetic import encode

    for n in range(count):
        encode(
            folder / f"video{first_hue + n:03d}.mp4",
            seconds=seconds,
            fps=10,
            width=width,
            height=height,
            hue=(first_hue + n) * 7,
        )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny random X-CLIP (a check of the harness)")
    parser.add_argument("--checkpoint", type=Path, help="X-CLIP checkpoint (default: full-size, random weights)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--bound-ms",
        type=float,
        default=5000.0,
        help="exit 1 when any request takes longer (default 5000; 0: no bound)",
    )
    parser.add_argument("--videos", type=int, default=8, help="videos in the starting library")
    parser.add_argument(
        "--ingest-videos",
        type=int,
        default=20,
        help="videos the ingest beside the server adds (20: about a 60 s window on 2 cores, full-size model)",
    )
    parser.add_argument("--video-seconds", type=float, default=20.0, help="length of each video (4 s clips)")
    parser.add_argument(
        "--ingest-timeout",
        type=float,
        default=600.0,
        help="seconds the ingest may run on after the clients stop (then it is stopped)",
    )
    parser.add_argument("--size", default=None, help="video frame size WxH (default 320x240; 64x48 with --tiny)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    args = parser.parse_args()

    from bench.common import full_size_checkpoint, machine
    from vsearch.model.random_checkpoint import build_checkpoint

    width, height = map(int, (args.size or ("64x48" if args.tiny else "320x240")).split("x"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.tiny:
            checkpoint, model = build_checkpoint(scratch / "xclip-tiny"), "tiny random X-CLIP (tests' config)"
        else:
            checkpoint = args.checkpoint or full_size_checkpoint(None)
            model = str(args.checkpoint) if args.checkpoint else "XCLIPConfig() defaults (xclip-base-patch32), random"
        library = make_videos(scratch / "library", args.videos, args.video_seconds, width, height, 0)
        incoming = make_videos(scratch / "incoming", args.ingest_videos, args.video_seconds, width, height, 100)
        env = environment(scratch / "data", checkpoint, VSEARCH_PRECISION=args.precision)
        started = time.perf_counter()
        first = subprocess.run(
            [sys.executable, "-m", "vsearch", "ingest", str(library), "--json", "-q"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if first.returncode != 0:
            sys.exit(f"the starting ingest failed ({first.returncode}):\n{first.stderr[-3000:]}")
        print(
            f"starting library: {json.loads(first.stdout)['clips']} clips in {time.perf_counter() - started:.1f} s; "
            f"{args.clients} clients for {args.seconds:g} s ...",
            file=sys.stderr,
        )
        report = run_load(
            env, [incoming], scratch, clients=args.clients, seconds=args.seconds, ingest_timeout=args.ingest_timeout
        )
    report = {
        "machine": machine(),
        "model": model,
        "videos": f"{width}x{height} h264, {args.video_seconds:g} s each",
        "starting_videos": args.videos,
        "ingested_beside": args.ingest_videos,
        **report,
        "bound_ms": args.bound_ms,
    }
    print(json.dumps(report, indent=2))
    problems = []
    if report["errors"]:
        problems.append(f"error responses: {report['errors']}")
    if args.bound_ms and report["latency_ms"]["max"] > args.bound_ms:
        problems.append(f"slowest request {report['latency_ms']['max']:.0f} ms > bound {args.bound_ms:g} ms")
    if report["ingest"]["exit_status"] != 0:
        problems.append(f"the ingest beside the server exited {report['ingest']['exit_status']}")
    if report["server_stop"]["exit_status"] != 0:
        problems.append(f"the server exited {report['server_stop']['exit_status']} after SIGTERM")
    if problems:
        sys.exit("; ".join(problems))


if __name__ == "__main__":
    main()
