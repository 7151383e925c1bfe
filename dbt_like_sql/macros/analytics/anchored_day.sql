-- The anchor day in the month of `in_month`, clamped to the month's length (anchor 31 is Feb 28 or 29):
-- the day a billing period on that anchor starts in that month. analytics.billing_periods' one rule for it.
create macro analytics.anchored_day(in_month, anchor_day) as
    make_date(year(in_month), month(in_month), least(anchor_day, day(last_day(in_month))))
