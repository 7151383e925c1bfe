"""Alert delivery and the HTML report, run by the Dagster daemon after each successful load."""
