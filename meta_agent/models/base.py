"""The base of every table model, and the column types several areas share.

A table model is one row as read from the database: field names are the column names, NOT NULL
columns are required (server-generated ids and timestamps included), and constant column
defaults are Python defaults too. API request and response schemas are separate models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

EMBEDDING_DIMENSIONS = 384


def _vector_as_list(value: object) -> object:
    """Accept pgvector's text form ('[0.1,0.2]') and its psycopg adapter's numpy arrays."""
    if isinstance(value, str):
        inner = value.strip().removeprefix("[").removesuffix("]")
        return [float(item) for item in inner.split(",")] if inner.strip() else []
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


# vector(384)
Embedding = Annotated[
    list[float],
    BeforeValidator(_vector_as_list),
    Field(min_length=EMBEDDING_DIMENSIONS, max_length=EMBEDDING_DIMENSIONS),
]
# numeric(14, 8) with `check (... >= 0)`: every cost column of the operational schema
CostUsd = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=8)]
# jsonb with `check (jsonb_typeof(...) = 'object')`
JsonObject = dict[str, Any]


# secret references name a server environment variable with this fixed prefix (see 0004)
def _not_the_master_key(name: str) -> str:
    if name == "METAAGENT_SECRET_KEY":
        raise ValueError("METAAGENT_SECRET_KEY encrypts the stored secrets; it is no one's secret")
    return name


# any METAAGENT_SECRET_* name but METAAGENT_SECRET_KEY (see `_not_the_master_key`)
SecretEnvVar = Annotated[
    str,
    Field(pattern=r"^METAAGENT_SECRET_[A-Z0-9_]{1,100}$"),
    AfterValidator(_not_the_master_key),
]
# text with `check (length(...) between 1 and 200)`
Name = Annotated[str, Field(min_length=1, max_length=200)]


class TableModel(BaseModel):
    """One row of the table named by `__table__` (schema-qualified, e.g. "public.agents")."""

    model_config = ConfigDict(frozen=True, extra="forbid", from_attributes=True)

    __table__: ClassVar[str]
