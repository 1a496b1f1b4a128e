"""Studies: evaluation reports, baselines, sweeps, plots and reports built on training runs."""
