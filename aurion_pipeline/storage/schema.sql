-- The raw layer: what the pipeline loads. Analysts read the `analytics` views built on top.
-- Idempotent: run on every connection that writes.
create schema if not exists raw;

-- One row per (tenant, usage_date); unique on that pair (checked by asset checks, not a key:
-- DuckDB checks keys eagerly inside a delete + insert transaction).
create table if not exists raw.usage_daily (
    tenant            varchar not null,
    usage_date        date    not null,   -- UTC day
    voice_minutes     double,             -- minutes of voice
    api_calls         bigint,
    llm_input_tokens  bigint,             -- null when the API sent no llm_tokens for the day
    llm_output_tokens bigint,
    _extra            varchar,            -- JSON object of metrics this version does not know yet
    _filled           boolean not null,   -- true: the API omitted the day inside a loaded window (zero usage)
    _run_id           varchar,
    _loaded_at        timestamp           -- UTC
);

-- Which (tenant, window) was asked for, when, by which run: a day outside every loaded window is
-- "not loaded", never "no usage".
create table if not exists raw._load_log (
    tenant        varchar not null,
    window_start  date    not null,       -- inclusive
    window_end    date    not null,       -- inclusive
    status        varchar not null,       -- loaded | failed
    rows          bigint,
    filled_days   integer,
    error         varchar,                -- one-line reason when status = failed
    _run_id       varchar,
    _loaded_at    timestamp not null
);

-- Old and new figures of any day whose numbers changed on a re-fetch (late-arriving usage).
create table if not exists raw.usage_restatements (
    tenant      varchar not null,
    usage_date  date    not null,
    metric      varchar not null,
    old_value   double,
    new_value   double,
    _run_id     varchar,
    restated_at timestamp not null
);

-- Snapshots of /usage/summary, appended each time the summary asset runs.
create table if not exists raw.usage_summary (
    tenant               varchar   not null,
    captured_at          timestamp not null,  -- UTC
    period_start         date,                -- first day of the billing period (inclusive)
    period_end           date,                -- last day of the billing period (inclusive)
    plan                 varchar,
    billing_status       varchar,
    voice_minutes_used   double,
    voice_minutes_limit  double,              -- null = unlimited
    voice_minutes_pct    double,
    api_calls_used       double,
    api_calls_limit      double,
    api_calls_pct        double,
    storage_mb_used      double,
    storage_mb_limit     double,
    storage_mb_pct       double,
    _extra               varchar,             -- JSON object of fields this version does not know yet
    _run_id              varchar
);

-- Plans declared in the tenants file (`plan:`), replaced on every usage load. A declared plan stands
-- in for a tenant's plan only until its first summary snapshot arrives; no row = no plan declared.
create table if not exists raw.tenant_plans (
    tenant       varchar   not null,
    plan         varchar   not null,
    declared_at  timestamp not null       -- UTC, when this plan was first declared for the tenant
);
