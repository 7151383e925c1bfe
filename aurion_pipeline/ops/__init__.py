"""What operators and analysts run against the analyst copy: `status` and ad-hoc SQL."""
