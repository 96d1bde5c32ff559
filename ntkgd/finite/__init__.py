"""ntkgd.finite."""
