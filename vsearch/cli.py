"""The `vsearch` command: parses input, calls the core, formats output (results on stdout, the rest on stderr)."""

from __future__ import annotations

import json
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


def _settings(ctx: click.Context):
    from pydantic import ValidationError

    from vsearch.config import Settings

    overrides = {k: v for k, v in ctx.obj.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid settings: {problems}") from exc


def _library(ctx: click.Context, *, runs_model: bool = True, ingest: bool = False):
    """The library, in a process configured for what the command does (vsearch.runtime)."""
    from vsearch.runtime import configure_process

    settings = configure_process(_settings(ctx), ingest=ingest, runs_model=runs_model)
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
                data_dir = _settings(ctx).data_dir
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
def _terminate_as_interrupt():
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


class _Bar:
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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--clip-seconds", type=float, help="Clip length in seconds [env VSEARCH_CLIP_SECONDS; default 4].")
@click.option("--stride-seconds", type=float, help="Seconds between clip starts [default: the clip length].")
@click.option("--batch-size", type=int, help="Clips per model batch [env VSEARCH_BATCH_SIZE; default 8].")
@click.option("--workers", type=int, help="Decode worker processes [env VSEARCH_WORKERS; default: cores - 1; 0 = inline].")
@click.option("--reembed", is_flag=True, help="Forget every clip first and embed the given paths with the current model.")
@click.option("--prompt-features/--no-prompt-features", default=None, help="Keep each clip's features for exact X-CLIP ranking (~50 KB a clip) [env VSEARCH_PROMPT_FEATURES; default on].")
@click.option("--decoder-prescale/--no-decoder-prescale", default=None, help="Let the decoder scale frames to twice the model's input before the exact resize (faster; cosine >= 0.9999 to full-size frames) [env VSEARCH_DECODER_PRESCALE; default on].")
@click.option("--no-wait", is_flag=True, help=f"When another process is changing the library, exit with status {EXIT_BUSY} instead of waiting for it.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def ingest(ctx, paths, clip_seconds, stride_seconds, batch_size, workers, reembed, prompt_features, decoder_prescale,
           no_wait, as_json, quiet):
    """Index the videos under PATHS (folders are walked recursively).

    Videos are recognised by content as well as by extension. Unchanged files (same path, size
    and mtime, or same content) are skipped; changed files are re-embedded; files gone from a
    walked folder are forgotten. A file that cannot be decoded is reported with the reason and
    the run goes on.

    One ingest (or prune, reindex) changes a library at a time: a second one waits for the first,
    then finds its files done. Ctrl-C or SIGTERM stops it, keeping what was indexed.

    \b
    Exit status: 0 every file indexed or unchanged; 1 some files failed (see the summary or
    `vsearch status`); 2 usage error; 3 configuration, model, database or disk error;
    75 another process is changing the library (--no-wait); 130 interrupted; 143 terminated.
    """
    ctx.obj.update(clip_seconds=clip_seconds, stride_seconds=stride_seconds, batch_size=batch_size, workers=workers,
                   prompt_features=prompt_features, decoder_prescale=decoder_prescale)
    library = _library(ctx, ingest=True)  # configures the process before torch loads
    from vsearch.ingest import ingest as run_ingest
    from vsearch.store.locks import say_waiting

    with _terminate_as_interrupt() as terminated:
        try:
            summary = run_ingest(library, paths, reembed=reembed, progress=_Bar(not quiet), wait=not no_wait,
                                 on_wait=say_waiting("changing the library"))
        except KeyboardInterrupt:  # before or after embedding (waiting, walking, sweeping): nothing half done
            click.echo("stopped", err=True)
            ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    if as_json:
        click.echo(json.dumps(summary.as_json(), indent=2))
    else:
        click.echo(summary.as_text(), err=True)
    if summary.interrupted:
        ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    if summary.failed:
        ctx.exit(EXIT_FAILED_FILES)


def _clock(seconds: float) -> str:
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"


@cli.command()
@click.argument("text")
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many clips.")
@click.option("--no-rerank", is_flag=True, help="Stage 1 only: rank by embedding cosine, skip X-CLIP's exact score.")
@click.option("--overfetch", type=click.IntRange(1, 1000), help="Stage 1 fetches k x this many candidates to rerank [env VSEARCH_OVERFETCH; default 50].")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"query", "model", "took_ms", "ranking", "results": [...]}.')
@click.pass_context
def query(ctx, text, k, no_rerank, overfetch, as_json):
    """Find the clips that best match TEXT, best first.

    Candidates come from the vector index (embedding cosine); the best k x overfetch of them are
    then ranked by X-CLIP's own video-text score (its logits_per_video), which is the `score`.

    \b
      vsearch query "eating spaghetti"
      vsearch query "a dog catching a ball" -k 20 --json | jq '.results[0].path'
    """
    from vsearch.search import search

    if not text.strip():
        raise click.BadParameter("the query is empty", param_hint="TEXT")
    response = search(_library(ctx), text, k, rerank=not no_rerank, overfetch=overfetch)
    if response.notice:
        click.echo(f"note: {response.notice}", err=True)
    if as_json:
        click.echo(json.dumps(response.as_json(), indent=2))
        return
    if not response.results:
        click.echo("no results", err=True)
    for r in response.results:
        click.echo(f"{r.rank:>3}  {r.score:7.4f}  {r.path}  {_clock(r.start)}–{_clock(r.end)}")
    click.echo(f"{len(response.results)} result(s) in {response.took_ms:.0f} ms ({response.ranking})", err=True)


@cli.command("eval")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Results per query (ranks past k count as no hit).")
@click.option("--no-rerank", is_flag=True, help="Stage 1 only, as `query --no-rerank`.")
@click.option("--overfetch", type=click.IntRange(1, 1000), help="As `query --overfetch` [env VSEARCH_OVERFETCH; default 50].")
@click.option("--compare", "compare", multiple=True, metavar="KEY=VALUE[,...]", help="Another run beside the first, with these changed: rerank=on|off, overfetch=N (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON: each run's measures and per-query rows, the lines left out.")
@click.pass_context
def evaluate(ctx, labels, k, no_rerank, overfetch, compare, as_json):
    """Measure search quality on labelled moments (LABELS: JSON Lines or CSV).

    Each line names a relevant moment: {"query": "...", "path": "...", "start": s, "end": e}
    (paths absolute or relative to LABELS). Every query is run as `vsearch query` runs it; a result
    is a hit when it overlaps one of the query's moments. Reports recall@1/5/10, the rank of the first
    hit, and moment recall@1 (the top result's span against the labelled one, temporal IoU >= 0.5 and
    >= 0.7). Bad lines and labelled files missing from the library are listed, not dropped silently.

    \b
      vsearch eval labels.jsonl
      vsearch eval labels.jsonl --compare rerank=off --compare overfetch=10
    """
    from vsearch.evaluation.labels import LabelsError, read_labels
    from vsearch.evaluation.report import as_table, problems
    from vsearch.evaluation.run import SearchSettings
    from vsearch.evaluation.run import evaluate as run_evaluation

    try:
        moments = read_labels(labels)
    except LabelsError as exc:
        raise click.BadParameter(str(exc), param_hint="LABELS") from exc
    base = SearchSettings("default", not no_rerank, overfetch)
    try:
        runs = [base] + [SearchSettings.parse(text, base) for text in compare]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compare") from exc
    if not moments.moments:
        raise click.BadParameter(f"no usable line in {labels}" + "".join(
            f"\n  line {line}: {problem}" for line, problem in moments.problems[:10]), param_hint="LABELS")
    library = _library(ctx)
    from tqdm import tqdm

    total = len(moments.queries()) * len(runs)
    with tqdm(total=total, unit="query", file=sys.stderr, disable=None, leave=False) as bar:  # off unless a TTY
        result = run_evaluation(library, moments, k, runs, progress=lambda: bar.update(1))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo(as_table(result))
    for line in problems(result):
        click.echo(f"note: {line}", err=True)


@cli.command()
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Checkpoint folder to write (then: --model DIR).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", "train_batch", type=click.IntRange(2), default=8, show_default=True, help="Labelled clips per step; each is ranked against the others' queries.")
@click.option("--lr", "learning_rate", type=float, default=1e-5, show_default=True, help="AdamW peak learning rate.")
@click.option("--warmup", type=click.FloatRange(0, 0.9), default=0.05, show_default=True, help="Share of the steps over which the learning rate rises to --lr (then it decays on a cosine).")
@click.option("--background-negatives", type=click.IntRange(0), default=0, show_default=True, help="Clips from labelled files outside all their labelled moments, added to each step as negatives for every query. Use only when each file's labels cover every moment that answers the queries.")
@click.option("--crop", type=click.FloatRange(0.5, 1.0), default=1.0, show_default=True, help="Below 1: each training clip is a random crop of at least this share of the frame's width and height (the same on every frame), resized back: more variety from the same labels.")
@click.option("--reversed-negatives", is_flag=True, help="Each clip played backwards is a negative for its own query: for events with a direction in time (opening vs closing, arriving vs leaving).")
@click.option("--train", "parts", type=click.Choice(["light", "all"]), default="light", show_default=True, help="light: what X-CLIP adds to CLIP (prompt generator, cross-frame/MIT modules) and the projections; all: every weight.")
@click.option("--validation", type=click.FloatRange(0, 0.9), default=0.2, show_default=True, help="Share of the queries held out to measure recall@1 after each epoch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Go on with the run saved in --out (after its last finished epoch).")
@click.option("--json", "as_json", is_flag=True, help="Print the report (plan, loss and validation recall per epoch) as JSON.")
@click.pass_context
def finetune(ctx, labels, out, epochs, train_batch, learning_rate, warmup, background_negatives, crop,
             reversed_negatives, parts, validation, seed, resume, as_json):
    """Fine-tune the library's X-CLIP checkpoint on labelled moments (LABELS as for `vsearch eval`).

    Each moment is decoded and sampled as ingest samples a clip; training uses a contrastive loss on
    X-CLIP's own video-text logits. After every epoch the held-out recall@1 is printed and --out
    holds a checkpoint that `--model DIR` loads. Then re-embed and measure:

    \b
      vsearch finetune labels.jsonl --out ./xclip-mine
      vsearch --model ./xclip-mine ingest --reembed ~/Videos
      vsearch --model ./xclip-mine eval labels.jsonl
    """
    from tqdm import tqdm

    from vsearch.evaluation.labels import LabelsError, read_labels
    from vsearch.runtime import configure_process
    from vsearch.training.finetune import TrainingPlan
    from vsearch.training.job import finetune as run_finetune

    try:
        moments = read_labels(labels)
    except LabelsError as exc:
        raise click.BadParameter(str(exc), param_hint="LABELS") from exc
    for line, problem in moments.problems:
        click.echo(f"note: labels line {line}: {problem}", err=True)
    settings = configure_process(_settings(ctx))
    plan = TrainingPlan(epochs, train_batch, learning_rate, parts, validation, seed, warmup=warmup,
                        background_negatives=background_negatives, reversed_negatives=reversed_negatives, crop=crop)
    bar = tqdm(unit="step", file=sys.stderr, disable=None, leave=False)

    def decoded(count, failed):
        for moment, reason in failed:
            click.echo(f"note: labels line {moment.line}: cannot decode {moment.path}: {reason}", err=True)
        click.echo(f"{count} labelled clip(s) decoded", err=True)

    def epoch_done(report):
        recall = "-" if report.validation_recall_at_1 is None else f"{report.validation_recall_at_1:.3f}"
        loss = "-" if report.loss is None else f"{report.loss:.4f}"
        bar.clear()
        click.echo(f"epoch {report.epoch}: loss {loss}, validation recall@1 {recall} ({report.seconds:.1f} s)", err=True)

    with _terminate_as_interrupt() as terminated:
        try:
            report = run_finetune(settings, moments, out, plan, resume=resume, on_decoded=decoded,
                                  on_epoch=epoch_done, on_step=lambda loss: bar.update(1))
        except KeyboardInterrupt:
            bar.close()
            click.echo(f"stopped: {out} holds the last finished epoch; --resume goes on from there", err=True)
            ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    bar.close()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    click.echo(f"checkpoint in {out}: use it with --model {out}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def status(ctx, as_json):
    """What the library holds: videos indexed and failed (with reasons), clips, model, index."""
    from vsearch.status import library_status

    info = library_status(_library(ctx, runs_model=False))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"data dir:  {info['data_dir']}")
    click.echo(f"database:  {info['database']}")
    click.echo(f"model:     {info['model'] or '(none yet)'}")
    click.echo(f"videos:    {info['videos']['indexed']} indexed, {info['videos']['failed']} failed")
    click.echo(f"clips:     {info['clips']}")
    last = info["last_ingest"]
    if last:
        click.echo(
            f"last run:  {last['finished_at']}: {last['indexed']} indexed, {last['unchanged']} unchanged, "
            f"{last['failed']} failed, {last['removed']} removed; {last['clips']} clips at "
            f"{last['clips_per_second']} clips/s"
        )
    index = info["index"]
    click.echo(f"index:     {index['kind']}, {index['size']} vectors, {index['bytes']} bytes ({index['state']})")
    params = index.get("params") or {}
    if params.get("kind") == "hnsw":
        click.echo(f"           HNSW M={params['hnsw_m']} efSearch={params['ef_search']}, "
                   f"recall@10 {params['recall_at_10']} against exact search")
    elif params.get("kind") == "ivf":
        click.echo(f"           IVF nlist={params['nlist']} nprobe={params['nprobe']}, "
                   f"recall@10 {params['recall_at_10']} against exact search")
    elif params.get("planned"):
        click.echo(f"           exact: {params['planned'].upper()} reached only recall@10 {params['recall_at_10']} "
                   "on these vectors")
    features = info["prompt_features"]
    if features["enabled"]:
        click.echo(f"features:  {features['bytes']} bytes, {features['bytes_per_clip']} per clip (exact ranking)")
    else:
        click.echo(f"features:  {features['note']}")
    for failure in info["failed"]:
        click.echo(f"failed:    {failure['path']}: {failure['reason']}")
    for timed in info["timed_by_frame_rate"]:
        click.echo(f"timing:    {timed['path']}: timed by {timed['reason']}")


@cli.command()
@click.option("--no-embeddings", is_flag=True, help="Leave out the embedding vectors.")
@click.pass_context
def export(ctx, no_embeddings):
    """Print every clip as one JSON object per line (JSON Lines).

    Fields: clip_id, video_id, path, start, end, frame_indices, frame_times, model, embedding.
    """
    from vsearch.status import iter_export

    for record in iter_export(_library(ctx, runs_model=False), embeddings=not no_embeddings):
        click.echo(json.dumps(record))


@cli.command()
@click.option("--no-wait", is_flag=True, help=f"When another process is changing the library, exit with status {EXIT_BUSY} instead of waiting.")
@click.pass_context
def reindex(ctx, no_wait):
    """Rebuild the FAISS index from the embeddings stored in the database."""
    from vsearch.store.locks import say_waiting

    library = _library(ctx)
    if library.built_with[1] is None:
        click.echo("the library is empty: nothing to index", err=True)
        return
    index = library.reindex(wait=not no_wait, on_wait=say_waiting("changing the library"))
    click.echo(f"index rebuilt: {len(index)} clip(s) in {library.index_path}", err=True)


@cli.command()
@click.option("--no-wait", is_flag=True, help=f"When another process is changing the library, exit with status {EXIT_BUSY} instead of waiting.")
@click.option("--json", "as_json", is_flag=True, help="Print the removed paths as JSON.")
@click.pass_context
def prune(ctx, no_wait, as_json):
    """Forget videos whose files no longer exist."""
    from vsearch.status import prune_missing
    from vsearch.store.locks import say_waiting

    removed = prune_missing(_library(ctx, runs_model=False), wait=not no_wait,
                            on_wait=say_waiting("changing the library"))
    if as_json:
        click.echo(json.dumps({"removed": removed}))
    else:
        for path in removed:
            click.echo(f"removed: {path}", err=True)
        click.echo(f"{len(removed)} video(s) removed", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (127.0.0.1: this machine only).")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--grace-seconds", type=click.FloatRange(0), default=25.0, show_default=True,
              help="After SIGTERM or Ctrl+C, how long requests in flight may take to finish.")
@click.pass_context
def serve(ctx, host, port, grace_seconds):
    """Serve the HTTP API (GET /search?q=..., /docs for the OpenAPI page) over the library.

    SIGTERM or Ctrl+C stops it gracefully: no new connections, the requests already received
    (queued searches too) finish, then it exits 0. Requests still running --grace-seconds after the
    signal are cancelled and it exits 1 (a search stuck in the model gets 5 s more, then the process
    exits anyway); a second Ctrl+C stops at once, also with 1.
    """
    from vsearch.runtime import configure_process

    settings = configure_process(_settings(ctx))
    from vsearch.api.server import run_server

    click.echo(f"vsearch serving {settings.data_dir} on http://{host}:{port} (API docs at /docs)", err=True)
    ctx.exit(run_server(settings, host, port, grace_seconds=grace_seconds))


@cli.group()
def db():
    """Database schema (migrations run by themselves when a library opens)."""


@db.command()
@click.pass_context
def upgrade(ctx):
    """Apply the schema migrations to the newest version."""
    from vsearch.store.db import current_revision, make_engine
    from vsearch.store.db import upgrade as run_upgrade

    settings = _settings(ctx.parent)
    engine = make_engine(settings.database_url)
    run_upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}", err=True)


def main() -> None:
    cli(prog_name="vsearch")


if __name__ == "__main__":
    main()
