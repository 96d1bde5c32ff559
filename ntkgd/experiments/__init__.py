"""ntkgd.experiments."""
