-- What the ingest path needs beyond plain inserts.

-- Ingest runs as meta_agent_app, which cannot create tables. This is its one narrow door to
-- new daily partitions: at most a week at a time, and only for days the tenant's retention and
-- a day of clock skew allow, so a bad timestamp cannot make it create thousands of tables.
create function app.ensure_raw_partitions(first_day date, last_day date) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
begin
    if last_day < first_day or last_day - first_day > 7 then
        raise exception 'partitions are created at most 8 days at a time (% to %)', first_day, last_day;
    end if;
    if first_day < current_date - 3650 or last_day > current_date + 2 then
        raise exception 'no partitions outside the accepted window (% to %)', first_day, last_day;
    end if;
    return app.ensure_daily_partitions('raw.executions'::regclass, first_day, last_day)
        + app.ensure_daily_partitions('raw.actions'::regclass, first_day, last_day);
end
$$;
revoke all on function app.ensure_raw_partitions(date, date) from public;
grant execute on function app.ensure_raw_partitions(date, date) to meta_agent_app;
