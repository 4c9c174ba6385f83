"""The one root of the Dagster code location; it only loads per-domain definitions.

The warehouse issue fills the domains in (dbt assets, partitions, schedules, checks).
"""

import dagster as dg

defs = dg.Definitions()
