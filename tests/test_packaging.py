"""An installed (not editable) vsearch has every package, its migrations and its page."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vsearch").rglob("__init__.py")}
    found |= {"vsearch.migrations", "vsearch.migrations.versions"}
    assert found == listed
    assert config["package-dir"]["vsearch.migrations"] == "migrations"
    assert "static/*" in config["package-data"]["vsearch.api"]
