"""Pure reshaping of API payloads into typed Arrow tables: daily usage and billing-summary snapshots.
Imports nothing from Dagster, the network or the warehouse."""
