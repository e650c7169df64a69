"""The `vsearch` command: parses input, calls the core, formats output (results on stdout, the rest on
stderr)."""

from vsearch.cli import duplicates, library, quality, query  # noqa: F401  (their commands join the group)
from vsearch.cli.group import (  # noqa: F401
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_FAILED_FILES,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    cli,
)


def main() -> None:
    cli(prog_name="vsearch")
