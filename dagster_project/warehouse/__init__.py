"""The warehouse domain: the dbt project as daily-partitioned assets, and its schedule."""
