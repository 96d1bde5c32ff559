"""ntkgd.specs."""
