"""Where the archive lives: METAAGENT_ARCHIVE_DIR, or `archive` under the home."""

from __future__ import annotations

from pathlib import Path

from meta_agent.settings import load_settings


def test_the_archive_defaults_to_a_folder_under_the_home():
    assert load_settings({}).archive_dir == Path(".meta_agent", "archive").absolute()
    moved = load_settings({"METAAGENT_HOME": "/srv/meta agent"})
    assert moved.archive_dir == Path("/srv/meta agent/archive")


def test_the_archive_dir_is_read_from_its_variable_and_made_absolute():
    settings = load_settings({"METAAGENT_ARCHIVE_DIR": "cold/archive"})
    assert settings.archive_dir == Path("cold/archive").absolute()
    assert load_settings({"METAAGENT_ARCHIVE_DIR": "~/a"}).archive_dir == Path.home() / "a"
