"""The archive domain: raw logs past retention go to Parquet, then leave Postgres."""
