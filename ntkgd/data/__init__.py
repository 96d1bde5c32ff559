"""ntkgd.data."""
