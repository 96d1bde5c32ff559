"""ntkgd.analytic."""
