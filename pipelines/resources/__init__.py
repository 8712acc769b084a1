"""dlt resources, grouped by subject. Each factory takes the run's `RunContext`."""
