-- What a DBA runs once on a production PostgreSQL (>= 15, with pgvector installed) before
-- `python -m meta_agent migrate`: the owner role, its databases, and the vector extension,
-- which needs a superuser to create. The embedded server does the same in embedded.py.
create role meta_agent login password 'meta_agent' createrole bypassrls;
create database meta_agent owner meta_agent;
create database dagster owner meta_agent;
\connect meta_agent
create extension if not exists vector;
