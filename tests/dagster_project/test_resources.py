"""The dbt resource starts no extra process and loads no adapter before a build: the dbt beside
this interpreter is the dbt-core imported here, and no asset asks for column metadata."""

from __future__ import annotations

import subprocess

import pytest
from dbt.version import __version__ as dbt_core_version

from dagster_project.warehouse.resources import dbt_resource


def test_the_dbt_version_is_read_in_process(monkeypatch: pytest.MonkeyPatch):
    def no_subprocess(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("dbt --version was run")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    resource = dbt_resource("postgresql://meta_agent@/meta_agent?host=%2Frun")
    assert str(resource._cli_version) == dbt_core_version
    assert resource._initialize_dbt_core_adapter(["build"]) is None
