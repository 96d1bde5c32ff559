"""ntkgd.core."""
