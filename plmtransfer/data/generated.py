"""Generated example assays: the demo's fallback when no real assay can be reached.

Each assay is every single substitution of a random wild type, with a target a linear model can
learn: an additive effect of the mutated position (its sensitivity), plus an effect of the new
residue (one value per amino acid, shared by all positions), plus Gaussian noise. So the fallback
demonstrates the pipeline end to end (one-hot ``flat`` can fit it, pooled features partly), while
its scores say nothing about proteins. Every generated assay's name starts with
:data:`GENERATED_PREFIX`, which is how the demo's table and the report recognise them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from plmtransfer import layout
from plmtransfer.data.sequences import STANDARD_AMINO_ACIDS, write_fasta
from plmtransfer.io import write_dataframe_csv

GENERATED_PREFIX = "EXAMPLE_generated_"
GENERATED_BANNER = "GENERATED data: these scores say nothing about proteins"
EXAMPLE_ASSAYS = {f"{GENERATED_PREFIX}A": 70, f"{GENERATED_PREFIX}B": 90}  # name -> wild-type length
POSITION_SD, RESIDUE_SD, NOISE_SD = 1.0, 0.5, 0.3  # standard deviations of the target's three parts


def is_generated(dataset: str) -> bool:
    """Whether a data set is one of the generated example assays (by its name)."""
    return str(dataset).startswith(GENERATED_PREFIX)


def example_assay(length: int, rng: np.random.Generator) -> pd.DataFrame:
    """Every single substitution of a random wild type of ``length`` residues, with a learnable target.

    target = position effect + new-residue effect + noise (standard deviations :data:`POSITION_SD`,
    :data:`RESIDUE_SD`, :data:`NOISE_SD`): per-position one-hot (``flat``) can learn the position
    part, pooled composition the residue part. The columns are the study's ``ID, mutant, target,
    sequence`` with the mutant string as ID.
    """
    residues = list(STANDARD_AMINO_ACIDS)
    wild_type = "".join(rng.choice(residues, length))
    position_effect = rng.normal(0, POSITION_SD, size=length)
    residue_effect = dict(zip(residues, rng.normal(0, RESIDUE_SD, size=len(residues)), strict=True))
    rows = []
    for position, original in enumerate(wild_type):
        for residue in residues:
            if residue == original:
                continue
            mutant = f"{original}{position + 1}{residue}"
            target = position_effect[position] + residue_effect[residue] + rng.normal(0, NOISE_SD)
            rows.append((mutant, mutant, target, wild_type[:position] + residue + wild_type[position + 1:]))
    return pd.DataFrame(rows, columns=["ID", "mutant", "target", "sequence"])


def write_example_assays(out_dir: str | Path, seed: int = 0) -> list[str]:
    """Write the example assays in the DMS layout under ``out_dir`` (``data/``); return their names."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    for name, length in EXAMPLE_ASSAYS.items():
        frame = example_assay(length, rng)
        write_dataframe_csv(frame, layout.metadata_path(layout.DMS, name, out_dir), index=True)
        fasta = layout.fasta_path(layout.DMS, name, out_dir)
        write_fasta(zip(frame["ID"], frame["sequence"], strict=True), fasta)
    return list(EXAMPLE_ASSAYS)
