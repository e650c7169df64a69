"""The `vsearch` command group: global options, settings, exit codes, and what every command shares (fault
messages, SIGTERM as an interrupt, the progress bar)."""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from vsearch.errors import VsearchError

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_ERROR = 3
EXIT_BUSY = 75  # another process is changing the library (EX_TEMPFAIL: try again later)
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM


def settings_from(ctx: click.Context):
    from pydantic import ValidationError

    from vsearch.config import Settings

    overrides = {k: v for k, v in ctx.obj.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid settings: {problems}") from exc


def open_library(ctx: click.Context, *, runs_model: bool = True, ingest: bool = False):
    """The library, in a process configured for what the command does (vsearch.runtime)."""
    from vsearch.runtime import configure_process

    settings = configure_process(settings_from(ctx), ingest=ingest, runs_model=runs_model)
    from vsearch.library import Library

    return Library(settings)


class _Group(click.Group):
    """Turns vsearch's own errors into one clear line and an exit status, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VsearchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a full disk, a read-only folder, a database gone: one line, no traceback
            from vsearch.faults import explain

            try:
                data_dir = settings_from(ctx).data_dir
            except Exception:  # noqa: BLE001 - the settings were the trouble: no folder to blame
                data_dir = None
            fault = explain(exc, data_dir)
            if fault is None:
                raise
            click.echo(f"error: {fault}", err=True)
            ctx.exit(fault.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Library folder [env VSEARCH_DATA_DIR; default: the user data dir, e.g. ~/.local/share/vsearch].")
@click.option("--db-url", help="SQLAlchemy URL of the database [env VSEARCH_DB_URL; default: SQLite in the data dir]; e.g. postgresql+psycopg://user@host/db.")
@click.option("--model", help="X-CLIP checkpoint: hub id or local directory [env VSEARCH_MODEL; default microsoft/xclip-base-patch32].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where the model runs [env VSEARCH_DEVICE; default auto].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="Inference precision [env VSEARCH_PRECISION; auto: bf16 on CPUs with AMX/AVX512-BF16, fp16 on CUDA, else fp32].")
@click.version_option(package_name="vsearch")
@click.pass_context
def cli(ctx, data_dir, db_url, model, device, precision):
    """Find moments in your videos by describing them.

    \b
      vsearch ingest ~/Videos              index a library (again: only what changed)
      vsearch query "eating spaghetti"     best matching clips
      vsearch query "a red car" -k 20 --json
      vsearch status                       what is indexed, what failed and why

    Every option can also be set by its VSEARCH_* environment variable.
    """
    ctx.obj = {"data_dir": data_dir, "db_url": db_url, "model": model, "device": device, "precision": precision}


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a `timeout`, a service manager) stops like Ctrl-C: what was indexed is kept, the decode
    workers are stopped. Yields a list that is non-empty once SIGTERM arrived."""
    terminated: list[int] = []

    def stop(signum, _frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


class ProgressBar:
    """Progress on stderr: videos done, clips embedded, clips/s, ETA."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def start(self, total: int) -> None:
        if self.enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="video", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def update(self, summary) -> None:
        if self.bar is not None:
            rate = summary.clips / max(self.bar.format_dict["elapsed"], 1e-9)
            self.bar.set_postfix(clips=summary.clips, clips_per_s=f"{rate:.2f}", failed=len(summary.failed), refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


