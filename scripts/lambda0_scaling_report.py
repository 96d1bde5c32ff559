"""Summarise results/lambda0-scaling (scripts/lambda0-scaling.sh): a JSON summary and the figure of docs/lambda0-scaling.md."""

import json
import sys
from pathlib import Path

from ntkgd.core import write_json_atomic
from ntkgd.experiments import plot_lambda0_scaling, read_scaling_runs, scaling_summary

root = Path(__file__).resolve().parent.parent
directory = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "results" / "lambda0-scaling"
points = read_scaling_runs(directory)
summary = scaling_summary(points)
write_json_atomic(directory / "summary.json", summary, overwrite=True)
print(plot_lambda0_scaling(points, summary, root / "docs" / "lambda0_scaling.png"))
print(json.dumps(summary, indent=1))
