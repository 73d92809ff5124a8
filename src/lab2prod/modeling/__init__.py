"""Modeling: deterministic splits, factories of unfitted sklearn pipelines, metrics. Pure: no I/O."""
