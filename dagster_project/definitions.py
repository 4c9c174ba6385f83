"""The one root of the Dagster code location: it only loads the per-domain definitions.

Loaded lazily, so reading settings and starting the embedded servers happens when Dagster
loads the code location, not at import.
"""

import dagster as dg

from dagster_project.warehouse import definitions as warehouse
from meta_agent.connections import resolve_urls
from meta_agent.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    urls = resolve_urls(get_settings(), need_redis=False)
    return dg.Definitions.merge(warehouse.definitions(urls.database_url))
