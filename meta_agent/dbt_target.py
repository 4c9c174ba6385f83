"""The DBT_PG_* environment dbt's profile reads (dbt/profiles.yml), from a libpq URL.

dbt is reached through dagster-dbt and the CLI only; both hand it the owner role's connection
this way, the embedded server's Unix socket directory included.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"


def dbt_environment(database_url: str) -> dict[str, str]:
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = query.get("port", [str(parts.port or 5432)])[0]
    return {
        "DBT_PG_HOST": unquote(host),
        "DBT_PG_PORT": port,
        "DBT_PG_USER": unquote(parts.username or "meta_agent"),
        "DBT_PG_PASSWORD": unquote(parts.password or ""),
        "DBT_PG_DATABASE": unquote(parts.path.lstrip("/") or "meta_agent"),
    }
