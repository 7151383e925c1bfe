"""Alert delivery: billing-threshold alerts (actual and forecast) and usage anomalies from the warehouse,
sent exactly once per channel (webhook, Slack, email) as the alerts file (`AURION_ALERTS_FILE`) routes them.
See docs/alerts.md."""
