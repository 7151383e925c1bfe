-- Billing status changes per tenant, from the summary snapshots. A status "begins" at the first
-- snapshot that shows it (the change happened between that snapshot and the one before). past_due
-- carries the vendor's 7-day grace period: grace_end = status_since + 7 days; grace_passed says whether
-- the tenant was still past_due at grace_end (until the next change, or until now, UTC, if current).
with snapshots as (
    select
        tenant, captured_at, billing_status,
        lag(billing_status) over (partition by tenant order by captured_at) as previous_status
    from raw.usage_summary
    where billing_status is not null
),

changes as (
    select tenant, billing_status, previous_status, captured_at as status_since
    from snapshots
    where previous_status is distinct from billing_status
),

history as (
    select
        *,
        lead(status_since) over (partition by tenant order by status_since) as status_until
    from changes
)

select
    tenant,
    billing_status,
    previous_status,
    status_since,
    status_until,
    status_until is null as is_current,
    case when billing_status = 'past_due' then status_since + interval 7 day end as grace_end,
    -- A status holds from status_since until status_until, exclusive: a tenant whose next status starts
    -- at grace_end exactly was no longer past_due then; one still past_due now is, from grace_end on.
    case
        when billing_status = 'past_due' and status_until is not null then status_until > status_since + interval 7 day
        when billing_status = 'past_due' then (now() at time zone 'UTC')::timestamp >= status_since + interval 7 day
    end as grace_passed
from history
