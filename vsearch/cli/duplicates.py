"""`vsearch duplicates`: copies of one video, and clips that different videos share."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vsearch.cli.group import cli, open_library


@cli.command()
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True),
              help="Print cosine at which two frames count as the same picture [env VSEARCH_DUPLICATE_THRESHOLD; "
                   "default 0.85]. Lower finds more (and more wrongly); another value than the setting's is "
                   "computed for this run only.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def duplicates(ctx, threshold, as_json):
    """Copies (the same video in another container, codec, resolution or quality, or trimmed) and clips that
    different videos share (an opening, a shot), from the frame fingerprints ingest keeps.

    Frames are matched in order: two videos that only share black frames or a title are not copies.
    """
    from vsearch.duplicates.report import library_duplicates

    found = library_duplicates(open_library(ctx, runs_model=False), threshold)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    copies, shared = found["copies"], found["shared_clips"]
    click.echo(f"{len(copies)} group(s) of copies, {len(shared)} group(s) of shared clips "
               f"(threshold {found['threshold']:g})")
    for number, group in enumerate(copies, 1):
        click.echo(f"\ncopies {number}:")
        for video in group["videos"]:
            click.echo(f"  {video['path']}" + (f"  ({video['duration']:.1f} s)" if video["duration"] else ""))
        for match in group["matches"]:
            click.echo(f"    {_name(match['a'])} {_span(match['a_span'])} = {_name(match['b'])} {_span(match['b_span'])}"
                       f"  offset {match['offset']:+.2f} s, spans {match['coverage']:.0%}, "
                       f"cosine {match['similarity']:.3f}")
    for number, group in enumerate(shared, 1):
        click.echo(f"\nshared clips {number}:")
        for clip in group["clips"]:
            click.echo(f"  clip {clip['clip_id']}: {clip['path']} {_span([clip['start'], clip['end']])}")
    if found["videos_without_prints"]:
        click.echo(f"\n{len(found['videos_without_prints'])} video(s) were indexed before fingerprints were kept "
                   "and are not compared: `vsearch db upgrade` fingerprints them (nothing is embedded again).", err=True)


def _name(path: str) -> str:
    return Path(path).name


def _span(span: list[float]) -> str:
    return f"{span[0]:.1f}-{span[1]:.1f} s"
