-- The Parquet archive's manifest: one row per file written by retention (meta_agent/archive).
--
-- Retention runs as the owner role and is the only writer; nothing that serves requests reads
-- it, so the app role gets no grant. It carries tenant_id, so it gets the same RLS as every
-- tenant-owned table. No foreign key to tenants: like the raw rows it describes (0002), an
-- archived file outlives the tenant row, and deleting a tenant must not forget where its
-- history went.
--
-- A row moves through three states, each committed on its own so a crash between steps loses
-- nothing: written and verified (verified_at; the rows are still in raw.*), then removed
-- from Postgres (dropped_at, by dropping the day's partition or by deleting the tenant's rows).
-- A file whose rows were removed is never rewritten: rows that arrive later for the same
-- tenant and day go to the next part.
create table archive_manifest (
    table_name text not null check (table_name in ('executions', 'actions')),
    tenant_id uuid not null,
    day date not null,
    part integer not null check (part >= 0),
    schema_version integer not null check (schema_version > 0),
    -- relative to the archive root: v<schema_version>/<table>/tenant_id=<uuid>/date=<day>/part-<part>.parquet
    path text not null,
    row_count bigint not null check (row_count >= 0),
    -- order-independent sum of a 64-bit hash of each full row; see meta_agent/archive/schema.py
    checksum numeric not null,
    file_bytes bigint not null check (file_bytes >= 0),
    written_at timestamptz not null default now(),
    verified_at timestamptz,
    dropped_at timestamptz,
    removal text check (removal in ('partition_dropped', 'rows_deleted')),
    primary key (table_name, tenant_id, day, part),
    unique (path),
    check (dropped_at is null or verified_at is not null),
    check ((dropped_at is null) = (removal is null))
);
-- at most one part per tenant and day still has its rows in Postgres
create unique index archive_manifest_open_part_key on archive_manifest (table_name, tenant_id, day)
where dropped_at is null;
create index archive_manifest_day_idx on archive_manifest (table_name, day);
select app.enable_tenant_rls('archive_manifest');
