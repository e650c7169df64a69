"""`vsearch query`: search the library from the command line."""

from __future__ import annotations

import json

import click

from vsearch.cli.group import cli, open_library
from vsearch.results import GROUPS
from vsearch.search import SORTS


@cli.command()
@click.argument("text")
@click.option("-k", "--top-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many results.")
@click.option("--group", type=click.Choice(GROUPS), default=GROUPS[0], show_default=True,
              help="Result unit: moments (runs of neighbouring clips that match alike), single clips, or videos "
                   "(each with its best moments).")
@click.option("--offset", type=click.IntRange(0, 100_000), default=0, help="Results to skip (the next page).")
@click.option("--min-relevance", type=click.FloatRange(0, 1), metavar="R",
              help="Only results at least this relevant, 0 to 1 (0: all) [env VSEARCH_MIN_RELEVANCE; default 0.2].")
@click.option("--sort", type=click.Choice(SORTS), default=SORTS[0], show_default=True,
              help="Best match first, or newest recorded first (among the best 200 that pass the cut-off).")
@click.option("--no-rerank", is_flag=True, help="Stage 1 only: rank by embedding cosine, skip X-CLIP's exact score.")
@click.option("--overfetch", type=click.IntRange(1, 1000), help="Stage 1 fetches k x this many candidates to rerank [env VSEARCH_OVERFETCH; default 50].")
@click.option("--in", "folders", multiple=True, metavar="FOLDER", help="Only videos under this folder (or matching this glob, e.g. '*/2024/*'); repeatable: under any of them.")
@click.option("--after", metavar="DATE", help="Only videos recorded on or after DATE (YYYY-MM-DD[THH:MM], UTC unless a zone is given).")
@click.option("--before", metavar="DATE", help="Only videos recorded before DATE.")
@click.option("--min-duration", type=click.FloatRange(0), metavar="SECONDS", help="Only videos at least this long.")
@click.option("--max-duration", type=click.FloatRange(0), metavar="SECONDS", help="Only videos at most this long.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"query", "model", "took_ms", "ranking", "group", "results": [...]}; with '
                   '"no_good_match": true and "below_cutoff": [the best found] when nothing passes the cut-off.')
@click.pass_context
def query(ctx, text, k, group, offset, min_relevance, sort, no_rerank, overfetch, folders, after, before,
          min_duration, max_duration, as_json):
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

    The recorded date is the container's creation time, else the file's modification time.
    """
    from vsearch.filters import FilterError, SearchFilter
    from vsearch.search import search

    if not text.strip():
        raise click.BadParameter("the query is empty", param_hint="TEXT")
    try:
        filters = SearchFilter.parse(folders, after, before, min_duration, max_duration)
    except FilterError as exc:
        raise click.UsageError(str(exc)) from exc
    library = open_library(ctx)
    cutoff = library.settings.min_relevance if min_relevance is None else min_relevance
    response = search(library, text, k, rerank=not no_rerank, overfetch=overfetch, offset=offset,
                      group=group, filters=filters, min_relevance=cutoff, sort=sort)
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
            click.echo(f"{r.rank:>3}  {r.score:7.4f}  {r.relevance:4.2f}  {r.path}  ({r.total_moments} moment(s))")
            for m in r.moments:
                click.echo(f"       {m.score:7.4f}  {m.relevance:4.2f}  {_clock(m.start)}–{_clock(m.end)}")
        else:
            click.echo(f"{r.rank:>3}  {r.score:7.4f}  {r.relevance:4.2f}  {r.path}  {_clock(r.start)}–{_clock(r.end)}")
    click.echo(f"{len(response.results)} {group}(s) in {response.took_ms:.0f} ms ({response.ranking}; columns: rank, "
               "score, relevance)", err=True)


def _start(result) -> float:
    return result.moments[0].start if hasattr(result, "moments") else result.start


def _clock(seconds: float) -> str:
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
