"""Settings: defaults, environment variables, flags' overrides and validation."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from vsearch.config import DEFAULT_MODEL, Settings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert settings.data_dir == (tmp_path / "xdg" / "vsearch").resolve()
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'vsearch.db'}"
    assert settings.index_path == settings.data_dir / "index.faiss"
    assert settings.model == settings.model_id == DEFAULT_MODEL
    assert settings.stride_seconds == settings.clip_seconds == 4.0
    assert (settings.device, settings.precision, settings.cpu_linear, settings.omp_wait_policy) == (
        "auto", "auto", "auto", "auto")
    assert settings.decode_nice and settings.keep_freed_memory and settings.prompt_features


def test_every_field_is_a_vsearch_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("VSEARCH_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("VSEARCH_DB_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("VSEARCH_CLIP_SECONDS", "2.5")
    monkeypatch.setenv("VSEARCH_DECODE_NICE", "0")
    monkeypatch.setenv("VSEARCH_CPU_LINEAR", "blas")
    monkeypatch.setenv("VSEARCH_CORS_ORIGINS", '["http://a.example"]')
    settings = Settings()
    assert settings.data_dir == (tmp_path / "lib").resolve() and settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.clip_seconds == settings.stride_seconds == 2.5
    assert settings.decode_nice is False and settings.cpu_linear == "blas"
    assert settings.cors_origins == ["http://a.example"]
    assert Settings(clip_seconds=8).clip_seconds == 8  # a flag (keyword) wins over the environment


def test_a_local_checkpoint_is_recorded_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    monkeypatch.chdir(tmp_path)
    assert Settings(model="ckpt").model_id == str((tmp_path / "ckpt").resolve())
    assert Settings(model="org/name").model_id == "org/name"  # not a folder here: a hub id
    assert Settings(data_dir=Path("~") / "lib").data_dir == (Path.home() / "lib").resolve()


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"clip_seconds": 0}, {"workers": -1}, {"device": "tpu"},
                                 {"cpu_linear": "mkl"}, {"approximate_index": "lsh"}, {"overfetch": 0}])
def test_invalid_values_are_refused(bad):
    with pytest.raises(ValidationError):
        Settings(**bad)
