"""The `dbt_like_sql/` folder as Dagster assets: seeds, models and their data-test checks."""
