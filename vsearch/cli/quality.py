"""Commands that measure and adapt search quality on labelled moments: eval, finetune."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vsearch.cli.group import EXIT_INTERRUPTED, EXIT_TERMINATED, cli, open_library, settings_from, sigterm_as_interrupt


@cli.command("eval")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Results per query (ranks past k count as no hit).")
@click.option("--no-rerank", is_flag=True, help="Stage 1 only, as `query --no-rerank`.")
@click.option("--overfetch", type=click.IntRange(1, 1000), help="As `query --overfetch` [env VSEARCH_OVERFETCH; default 50].")
@click.option("--compare", "compare", multiple=True, metavar="KEY=VALUE[,...]", help="Another run beside the first, with these changed: rerank=on|off, overfetch=N, group=moment|clip, tolerance=T (the moments' closeness; repeatable).")
@click.option("--group", type=click.Choice(["moment", "clip"]), default="moment", show_default=True, help="The result unit judged, as `query --group`.")
@click.option("--json", "as_json", is_flag=True, help="Everything as JSON: each run's measures and per-query rows, the lines left out.")
@click.pass_context
def evaluate(ctx, labels, k, no_rerank, overfetch, compare, group, as_json):
    """Measure search quality on labelled moments (LABELS: JSON Lines or CSV).

    Each line names a relevant moment: {"query": "...", "path": "...", "start": s, "end": e}
    (paths absolute or relative to LABELS). Every query is run as `vsearch query` runs it; a result
    is a hit when it overlaps one of the query's moments. Reports recall@1/5/10, the rank of the first
    hit, and moment recall@1 (the top result's span against the labelled one, temporal IoU >= 0.5 and
    >= 0.7). Bad lines and labelled files missing from the library are listed, not dropped silently.

    \b
      vsearch eval labels.jsonl
      vsearch eval labels.jsonl --compare rerank=off --compare overfetch=10
      vsearch eval labels.jsonl --compare group=clip --compare tolerance=1
    """
    from vsearch.evaluation.labels import LabelsError, read_labels
    from vsearch.evaluation.report import as_table, problems
    from vsearch.evaluation.run import SearchSettings
    from vsearch.evaluation.run import evaluate as run_evaluation

    try:
        moments = read_labels(labels)
    except LabelsError as exc:
        raise click.BadParameter(str(exc), param_hint="LABELS") from exc
    base = SearchSettings("default", not no_rerank, overfetch, group)
    try:
        runs = [base] + [SearchSettings.parse(text, base) for text in compare]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compare") from exc
    if not moments.moments:
        raise click.BadParameter(f"no usable line in {labels}" + "".join(
            f"\n  line {line}: {problem}" for line, problem in moments.problems[:10]), param_hint="LABELS")
    library = open_library(ctx)
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
@click.option("--shift", type=click.FloatRange(0, 0.5), default=0.0, show_default=True, help="Above 0: each training clip's window moves at random by up to this share of its length, earlier or later, as ingest's clips (one every stride) fall around a moment rather than on it.")
@click.option("--offset-negatives", type=click.FloatRange(0, 0.75), default=0.0, show_default=True, help="Above 0: each clip's window moved earlier or later, further than --shift moves it and at most this share of its length (0.5: half on the moment), is a negative for the step's other queries, so a clip that partly shows one moment does not answer another query. Costs a second clip per labelled clip each step (see --offset-windows).")
@click.option("--offset-windows", type=click.IntRange(0), default=0, show_default=True, help="Offset windows per step with --offset-negatives: 0, one for each clip of the batch; N, for its first N clips only (cheaper).")
@click.option("--reversed-negatives", is_flag=True, help="Each clip played backwards is a negative for its own query: for events with a direction in time (opening vs closing, arriving vs leaving).")
@click.option("--look-alike", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share of the epochs whose batches gather queries worded alike (\"... moving left\" beside \"... moving right\"), each the other's negative, instead of shuffled batches.")
@click.option("--frame-order", type=click.FloatRange(0), default=0.0, show_default=True, help="Above 0: weight of a self-supervised term that keeps each frame's embedding near its neighbours in time and apart from the clip's other frames, so that where things are (and so motion direction) reaches the model's time order. For models trained from scratch (--train all), or when queries tell a motion from its reverse.")
@click.option("--weight-decay", type=click.FloatRange(0), default=0.2, show_default=True, help="AdamW weight decay on weight matrices and embeddings (not biases, norms or the logit scale), as CLIP trained; it keeps a model trained from scratch from merging sentences that differ in one word.")
@click.option("--train", "parts", type=click.Choice(["light", "all"]), default="light", show_default=True, help="light: what X-CLIP adds to CLIP (prompt generator, cross-frame/MIT modules) and the projections; all: every weight.")
@click.option("--validation", type=click.FloatRange(0, 0.9), default=0.2, show_default=True, help="Share of the queries held out to measure recall@1 after each epoch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Go on with the run saved in --out (after its last finished epoch).")
@click.option("--json", "as_json", is_flag=True, help="Print the report (plan, loss and validation recall per epoch) as JSON.")
@click.pass_context
def finetune(ctx, labels, out, epochs, train_batch, learning_rate, warmup, background_negatives, crop, shift,
             offset_negatives, offset_windows, reversed_negatives, look_alike, frame_order, weight_decay, parts,
             validation, seed, resume, as_json):
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
    settings = configure_process(settings_from(ctx))
    plan = TrainingPlan(epochs, train_batch, learning_rate, parts, validation, seed, warmup=warmup,
                        background_negatives=background_negatives, reversed_negatives=reversed_negatives, crop=crop,
                        shift=shift, offset_negatives=offset_negatives, offset_windows=offset_windows,
                        look_alike=look_alike, frame_order=frame_order, weight_decay=weight_decay)
    files = tqdm(desc="decoding labelled files", unit="file", file=sys.stderr, disable=None, leave=False)
    steps = []  # the training bar, once decoding is done

    def decoding(done, total):
        files.total = total
        files.update(done - files.n)

    def decoded(count, failed):
        files.close()
        steps.append(tqdm(unit="step", file=sys.stderr, disable=None, leave=False))
        for moment, reason in failed:
            click.echo(f"note: labels line {moment.line}: cannot decode {moment.path}: {reason}", err=True)
        click.echo(f"{count} labelled clip(s) decoded", err=True)

    def epoch_done(report):
        recall = "-" if report.validation_recall_at_1 is None else f"{report.validation_recall_at_1:.3f}"
        loss = "-" if report.loss is None else f"{report.loss:.4f}"
        steps[0].clear()
        click.echo(f"epoch {report.epoch}: loss {loss}, validation recall@1 {recall} ({report.seconds:.1f} s)", err=True)

    with sigterm_as_interrupt() as terminated:
        try:
            report = run_finetune(settings, moments, out, plan, resume=resume, on_decoding=decoding,
                                  on_decoded=decoded, on_epoch=epoch_done, on_step=lambda loss: steps[0].update(1))
        except KeyboardInterrupt:
            files.close()
            for bar in steps:
                bar.close()
            click.echo(f"stopped: {out} holds the last finished epoch; --resume goes on from there", err=True)
            ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    for bar in steps:
        bar.close()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    for first, second in report.merged_queries:
        click.echo(f"warning: the model gives {first!r} and {second!r} the same text embedding, so it cannot tell "
                   "them apart: train longer (--epochs), with more --weight-decay, or word them apart", err=True)
    click.echo(f"checkpoint in {out}: use it with --model {out}", err=True)


