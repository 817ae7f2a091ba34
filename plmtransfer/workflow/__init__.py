"""Workflow floor: the study configuration, the sweep engine over Snakemake and the drivers' face."""
