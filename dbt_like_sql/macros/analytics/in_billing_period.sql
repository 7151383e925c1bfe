-- Whether a tenant's day falls in a billing period (of the same tenant, first and last day included):
-- the one definition of the usage-to-period join, for analytics.usage_by_period (long rows) and
-- analytics.period_usage (wide rows, one join per day). DuckDB expands it before planning, so the
-- join is planned as if written out (same build time at 1,000 tenants, measured).
create macro analytics.in_billing_period(tenant, day, period_tenant, period_start, period_end) as
    tenant = period_tenant and day between period_start and period_end
