"""ntkgd.linalg."""
