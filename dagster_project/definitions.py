"""The one root of the Dagster code location: it only loads the per-domain definitions.

Loaded lazily, so reading settings and starting the embedded servers happens when Dagster
loads the code location, not at import. The CLI and the demo, which have their URLs already,
build the same definitions with `definitions_for`.
"""

import dagster as dg

from dagster_project.alerting import definitions as alerting
from dagster_project.archive import definitions as archive
from dagster_project.warehouse import definitions as warehouse
from meta_agent.connections import resolve_urls
from meta_agent.settings import get_settings


def definitions_for(database_url: str) -> dg.Definitions:
    """Every domain's definitions, on the database of the owner URL `database_url`."""
    return dg.Definitions.merge(
        warehouse.definitions(database_url),
        archive.definitions(database_url, str(get_settings().archive_dir)),
        alerting.definitions(database_url),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return definitions_for(resolve_urls(get_settings(), need_redis=False).database_url)
