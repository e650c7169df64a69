"""Commands that build and look after a library: ingest, status, export, reindex, prune, serve, db upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vsearch.cli.group import (
    EXIT_BUSY,
    EXIT_FAILED_FILES,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ProgressBar,
    cli,
    open_library,
    settings_from,
    sigterm_as_interrupt,
)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--clip-seconds", type=float, help="Clip length in seconds [env VSEARCH_CLIP_SECONDS; default 4].")
@click.option("--stride-seconds", type=float, help="Seconds between clip starts [default: the clip length].")
@click.option("--batch-size", type=int, help="Clips per model batch [env VSEARCH_BATCH_SIZE; default 8].")
@click.option("--workers", type=int, help="Decode worker processes [env VSEARCH_WORKERS; default: cores - 1; 0 = inline].")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Decode and embed on a Ray cluster: alone, start one on this machine; 'auto' joins the one "
                   "running here; or host:port [env VSEARCH_RAY_ADDRESS]. Needs pip install 'vsearch[ray]'.")
@click.option("--reembed", is_flag=True, help="Forget every clip first and embed the given paths with the current model.")
@click.option("--prompt-features/--no-prompt-features", default=None, help="Keep each clip's features for exact X-CLIP ranking (~50 KB a clip) [env VSEARCH_PROMPT_FEATURES; default on].")
@click.option("--decoder-prescale/--no-decoder-prescale", default=None, help="Let the decoder scale frames to twice the model's input before the exact resize (faster; cosine >= 0.9999 to full-size frames) [env VSEARCH_DECODER_PRESCALE; default on].")
@click.option("--no-wait", is_flag=True, help=f"When another process is changing the library, exit with status {EXIT_BUSY} instead of waiting for it.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def ingest(ctx, paths, clip_seconds, stride_seconds, batch_size, workers, ray_address, reembed, prompt_features, decoder_prescale,
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
    if ray_address not in (None, "local", "auto") and Path(ray_address).exists():
        paths, ray_address = (Path(ray_address), *paths), "local"  # `--ray PATH...`: the flag alone, then paths
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...': the folders or files to index.")
    ctx.obj.update(clip_seconds=clip_seconds, stride_seconds=stride_seconds, batch_size=batch_size, workers=workers,
                   ray_address=ray_address, prompt_features=prompt_features, decoder_prescale=decoder_prescale)
    library = open_library(ctx, ingest=True)  # configures the process before torch loads
    from vsearch.ingest import ingest as run_ingest
    from vsearch.store.locks import say_waiting

    with sigterm_as_interrupt() as terminated:
        try:
            summary = run_ingest(library, paths, reembed=reembed, progress=ProgressBar(not quiet), wait=not no_wait,
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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def status(ctx, as_json):
    """What the library holds: videos indexed and failed (with reasons), clips, model, index."""
    from vsearch.status import library_status

    info = library_status(open_library(ctx, runs_model=False))
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

    for record in iter_export(open_library(ctx, runs_model=False), embeddings=not no_embeddings):
        click.echo(json.dumps(record))


@cli.command()
@click.option("--no-wait", is_flag=True, help=f"When another process is changing the library, exit with status {EXIT_BUSY} instead of waiting.")
@click.pass_context
def reindex(ctx, no_wait):
    """Rebuild the FAISS index from the embeddings stored in the database."""
    from vsearch.store.locks import say_waiting

    library = open_library(ctx)
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

    removed = prune_missing(open_library(ctx, runs_model=False), wait=not no_wait,
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

    settings = configure_process(settings_from(ctx))
    from vsearch.api.server import run_server

    click.echo(f"vsearch serving {settings.data_dir} on http://{host}:{port} (API docs at /docs)", err=True)
    ctx.exit(run_server(settings, host, port, grace_seconds=grace_seconds))


@cli.group()
def db():
    """Database schema (migrations run by themselves when a library opens)."""


@db.command()
@click.pass_context
def upgrade(ctx):
    """Apply the schema migrations to the newest version, then record the facts a newer schema keeps
    (recording dates, frame fingerprints for finding copies) for videos indexed before it, from their files:
    nothing is embedded again."""
    from vsearch.duplicates.backfill import fill_missing_prints
    from vsearch.ingest.facts import fill_missing_facts
    from vsearch.store.db import current_revision, make_engine, open_store
    from vsearch.store.db import upgrade as run_upgrade

    settings = settings_from(ctx.parent)
    engine = make_engine(settings.database_url)
    run_upgrade(engine)
    click.echo(f"database at revision {current_revision(engine)}", err=True)
    engine.dispose()
    store = open_store(settings.database_url)
    try:
        filled = fill_missing_facts(store)
        printed = fill_missing_prints(store, settings.duplicate_threshold)
    finally:
        store.close()
    if filled:
        click.echo(f"recorded the dates of {filled} video(s) indexed before this schema", err=True)
    if printed:
        click.echo(f"fingerprinted {printed} video(s) indexed before this schema (see `vsearch duplicates`)", err=True)


