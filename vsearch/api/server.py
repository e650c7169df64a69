"""`run_server(settings, host, port)`: the API under uvicorn, stopped gracefully by SIGTERM or Ctrl+C.

On the first SIGTERM or SIGINT the server stops accepting connections, lets every request it has
received finish (searches waiting their turn on the inference lock included), closes the library and
returns, so `vsearch serve` exits 0. uvicorn (>= 0.29) re-raises the signal it caught once it has shut
down, which would turn that clean stop into a death by the signal (exit status 143 for SIGTERM): the
handler installed around the run here is the server's own, so the re-raised signal lands in it and is
ignored. It also covers a signal that comes before uvicorn installs its handlers: the server then
starts and stops at once.

Requests get `grace_seconds` after the signal; then uvicorn cancels what is still running, and a stop
that took longer than that exits 1, as after a second Ctrl+C (uvicorn's force exit: stop at once). A
request stuck in inference (a thread cannot be cancelled) gets 5 s more before the process exits anyway.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import uvicorn

from vsearch.api.app import create_app
from vsearch.config import Settings

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 25.0  # under the 30 s that Kubernetes (and most supervisors) wait before SIGKILL
EXIT_CUT_OFF = 1  # requests in flight were cancelled: the grace time ran out, or a second Ctrl+C
STARTUP_FAILURE = 3  # uvicorn's own status when the app never started


class _GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, grace_seconds: float):
        super().__init__(config)
        self.grace_seconds = grace_seconds
        self.signalled_at: float | None = None
        self.shut_down = False

    async def shutdown(self, sockets=None) -> None:
        await super().shutdown(sockets=sockets)
        self.shut_down = True

    def handle_exit(self, sig: int, frame) -> None:
        if self.shut_down:  # uvicorn re-raising the signal it stopped on: handled already
            return
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
            name = signal.Signals(sig).name
            # os.write, not print: this runs between two bytecodes of whatever the main thread was doing
            os.write(
                2,
                f"vsearch: {name}: not accepting new connections; finishing the requests in flight "
                f"(at most {self.grace_seconds:g} s), then exiting\n".encode(),
            )
            watchdog = threading.Timer(self.grace_seconds + 5.0, _exit_stuck, args=(self.grace_seconds + 5.0,))
            watchdog.daemon = True
            watchdog.start()
        super().handle_exit(sig, frame)


def _exit_stuck(seconds: float) -> None:
    os.write(2, f"vsearch: requests still running {seconds:g} s after the signal; exiting anyway\n".encode())
    os._exit(EXIT_CUT_OFF)


def run_server(settings: Settings, host: str, port: int, *, grace_seconds: float = GRACE_SECONDS) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status: 0 when every request in flight finished."""
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="warning", timeout_graceful_shutdown=grace_seconds
    )
    server = _GracefulServer(config, grace_seconds)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in HANDLED_SIGNALS} if in_main_thread else {}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        return STARTUP_FAILURE
    overran = server.signalled_at is not None and time.monotonic() - server.signalled_at > grace_seconds
    if server.force_exit or overran:
        print("vsearch: stopped before every request in flight had finished", file=sys.stderr)
        return EXIT_CUT_OFF
    return 0
