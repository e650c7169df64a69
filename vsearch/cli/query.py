"""`vsearch query`: search the library from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vsearch.cli.group import cli, open_library
from vsearch.relevance import default_min_relevance
from vsearch.results import GROUPS
from vsearch.search import SORTS


@cli.command()
@click.argument("text", required=False)
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many results.")
@click.option("--group", type=click.Choice(GROUPS), default=GROUPS[0], show_default=True,
              help="Result unit: moments (runs of neighbouring clips that match alike), single clips, or videos "
                   "(each with its best moments).")
@click.option("--offset", type=click.IntRange(0, 100_000), default=0, help="Results to skip (the next page).")
@click.option("--min-relevance", type=click.FloatRange(0, 1), metavar="R",
              help="Only results at least this relevant, 0 to 1 (0: all) [env VSEARCH_MIN_RELEVANCE; default: the "
                   "cut-off a checkpoint fine-tuned by `vsearch finetune` carries, else 0.2].")
@click.option("--sort", type=click.Choice(SORTS), default=SORTS[0], show_default=True,
              help="Best match first, or newest recorded first (among the best 200 that pass the cut-off).")
@click.option("--include-blank", is_flag=True, help="Rank clips with almost no content (black, white, a single-colour card) with the others instead of after them.")
@click.option("--fold/--no-fold", default=None, help="Fold results from copies of a video (see `vsearch duplicates`) into the best of them (also_in), or list every copy [env VSEARCH_FOLD_COPIES; default: fold].")
@click.option("--no-rerank", is_flag=True, help="Stage 1 only: rank by embedding cosine, skip X-CLIP's exact score.")
@click.option("--overfetch", type=click.IntRange(1, 1000), help="Stage 1 fetches k x this many candidates to rerank [env VSEARCH_OVERFETCH; default 50].")
@click.option("--in", "folders", multiple=True, metavar="FOLDER", help="Only videos under this folder (or matching this glob, e.g. '*/2024/*'); repeatable: under any of them.")
@click.option("--after", metavar="DATE", help="Only videos recorded on or after DATE (YYYY-MM-DD[THH:MM], UTC unless a zone is given).")
@click.option("--before", metavar="DATE", help="Only videos recorded before DATE.")
@click.option("--min-duration", type=click.FloatRange(0), metavar="SECONDS", help="Only videos at least this long.")
@click.option("--max-duration", type=click.FloatRange(0), metavar="SECONDS", help="Only videos at most this long.")
@click.option("--like", "like", type=click.IntRange(1), metavar="CLIP_ID", help="More like this clip of the library (instead of TEXT).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Like this image (instead of TEXT).")
@click.option("--video", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Like the clip of this video file that starts at --at (instead of TEXT).")
@click.option("--at", type=click.FloatRange(0), default=0.0, metavar="SECONDS", help="Where --video's clip starts [default 0].")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"query", "model", "took_ms", "ranking", "group", "results": [...]}; with '
                   '"no_good_match": true and "below_cutoff": [the best found] when nothing passes the cut-off.')
@click.pass_context
def query(ctx, text, k, group, offset, min_relevance, sort, include_blank, fold, no_rerank, overfetch, folders, after, before,
          min_duration, max_duration, like, image, video, at, as_json):
    """Find the moments (or clips, or videos) that best match TEXT, best first.

    Candidates come from the vector index (embedding cosine); the best k x overfetch of them are
    then ranked by X-CLIP's own video-text score (its logits_per_video), which is the `score`.
    A moment's score is its best clip's; its span covers the neighbouring clips that score close to it.
    Each result's relevance (0 to 1) compares the query with a bank of other descriptions of the same
    clip; results below --min-relevance are dropped, and when none is left the answer is "no good match".

    \b
      vsearch query "eating spaghetti"
      vsearch query "a dog catching a ball" -k 20 --json | jq '.results[0].path'
      vsearch query "a goal" --group video      # which videos, each with its best moments
      vsearch query "fireworks" --in ~/Videos/2024 --after 2024-12-31 --max-duration 600
      vsearch query "a birthday cake" --sort date --min-relevance 0.7
      vsearch query --like 42                   # more like clip 42 (a clip_id from --json)
      vsearch query --image logo.png --group video
      vsearch query --video other.mp4 --at 12.5

    An example query (--like, --image, --video) ranks by the cosine of X-CLIP video embeddings (the
    model defines no video-video score): its results carry no relevance, and no cut-off applies.

    The recorded date is the container's creation time, else the file's modification time. Results
    from copies of one video (the same footage in other files, see `vsearch duplicates`) fold into the
    best of them, listed in its also_in; --no-fold lists each copy.
    """
    from vsearch.filters import FilterError, SearchFilter
    from vsearch.search import search

    examples = sum(x is not None for x in (like, image, video))
    if examples > 1 or (examples and text):
        raise click.UsageError("give TEXT or one example (--like, --image or --video), not several")
    if not examples and not (text or "").strip():
        raise click.BadParameter("the query is empty", param_hint="TEXT")
    try:
        filters = SearchFilter.parse(folders, after, before, min_duration, max_duration)
    except FilterError as exc:
        raise click.UsageError(str(exc)) from exc
    library = open_library(ctx)
    cutoff = default_min_relevance(library.settings) if min_relevance is None else min_relevance
    example = None
    if examples:
        from vsearch.examples import clip_example, image_example, video_example

        library.check_model()
        example = (clip_example(library, like) if like is not None else image_example(library, image)
                   if image is not None else video_example(library, video, at))
    response = search(library, text or "", k, rerank=not no_rerank, overfetch=overfetch, offset=offset,
                      group=group, filters=filters, min_relevance=cutoff, sort=sort, example=example,
                      include_blank=include_blank, fold=fold)
    if response.notice:
        click.echo(f"note: {response.notice}", err=True)
    if as_json:
        click.echo(json.dumps(response.as_json(), indent=2))
        return
    if response.no_good_match:
        best = response.below_cutoff[0]
        click.echo(f"no good match for {text!r}")
        click.echo(f"the best found has relevance {best.relevance:.2f}, below the cut-off {cutoff:g} ({best.path} "
                   f"at {_clock(_start(best))}); a lower --min-relevance lists such results", err=True)
        return
    if not response.results:
        click.echo("no results", err=True)
    for r in response.results:
        if group == "video":
            click.echo(f"{r.rank:>3}  {r.score:7.4f}  {_share(r.relevance)}  {r.path}  ({r.total_moments} moment(s))"
                       f"{_copies(r)}")
            for m in r.moments:
                click.echo(f"       {m.score:7.4f}  {_share(m.relevance)}  {_clock(m.start)}–{_clock(m.end)}")
        else:
            click.echo(f"{r.rank:>3}  {r.score:7.4f}  {_share(r.relevance)}  {r.path}  {_clock(r.start)}–{_clock(r.end)}"
                       f"{_copies(r)}")
    click.echo(f"{len(response.results)} {group}(s) in {response.took_ms:.0f} ms ({response.ranking}; columns: rank, "
               "score, relevance)", err=True)


def _copies(result) -> str:
    files = {entry["path"] for entry in result.also_in}
    return f"  (also in {len(files)} other file{'s' if len(files) > 1 else ''})" if files else ""


def _share(relevance: float | None) -> str:
    return "   -" if relevance is None else f"{relevance:4.2f}"


def _start(result) -> float:
    return result.moments[0].start if hasattr(result, "moments") else result.start


def _clock(seconds: float) -> str:
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
