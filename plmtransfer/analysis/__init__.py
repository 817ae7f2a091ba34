"""Analysis floor: statistics, figures and the report."""
