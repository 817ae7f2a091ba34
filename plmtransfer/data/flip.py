"""FLIP's GB1 splits (Dallago et al. 2021) as data sets of the pipeline.

FLIP (J-SNACKKB/FLIP, ``splits/gb1/splits.zip``) releases the four-site GB1 landscape of Wu et
al. (2016, eLife 5:e16965; sites V39, D40, G41, V54) as five splits, one CSV each with columns
``sequence,target,set,validation``: ``one_vs_rest``, ``two_vs_rest``, ``three_vs_rest``
(train on variants with at most 1, 2, 3 mutations), ``low_vs_high`` (train on fitness below the
wild type) and ``sampled`` (random 80/20). All five hold the same 8,733 sequences with the same
targets; only ``set`` and ``validation`` differ. The source is an offline mirror directory
(``<split>.csv.gz`` or ``<split>.csv``) or FLIP's ``splits.zip`` (``splits/<split>.csv``).

Written under ``<out>`` (the layout of :mod:`plmtransfer.layout` for the set ``FLIP``):

- ``FLIP/gb1.fasta``: every sequence once, ``>ID`` / sequence (one embedding unit for all splits);
- ``FLIP/gb1_wildtype.fasta``: FLIP's reference sequence (``splits/gb1/5LDE_1.fasta``);
- ``FLIP_metadata/gb1_<split>.csv``: ``ID,target,sequence,set,validation`` (``set`` ``train`` or
  ``test``, the outer split of ``reg_lassoCV.py --cv predefined``; ``validation`` ``True`` on the
  rows of train that FLIP holds out for tuning);
- ``FLIP/prepare_report.csv``: rows per split and per set.

IDs are the residues at the four sites (``VDGV`` is the wild type, Wu et al.'s variant names),
so they are the same in every split and in every run.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from plmtransfer import layout
from plmtransfer.data.sequences import check_sequence, write_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv

if TYPE_CHECKING:
    import pandas as pd

SET = "FLIP"
UNIT = "gb1"
SPLITS = ("one_vs_rest", "two_vs_rest", "three_vs_rest", "low_vs_high", "sampled")
SOURCE_COLUMNS = ("sequence", "target", "set")
COLUMNS = ["ID", "target", "sequence", "set", "validation"]
# FLIP's GB1 reference (splits/gb1/5LDE_1.fasta: PDB 5LDE chain A, GB1 fused to a viral FLICE protein)
GB1_WILDTYPE = (
    "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTELEVLFQGPLDPNSMATYEVLCEVARKLGTDDREVVLFLL"
    "NVFIPQPTLAQLIGALRALKEEGRLTFPLLAECLFRAGRRDLLRDLLHLDPRFLERHLAGTMSYFSPYQLTVLHVDGELCARDIRSLIFLSKDTI"
    "GSRSTPQTFLHWVYCMENLDLLGPTDVDALMSMLRSLSRVDLQRQVQTLMGLHLSGPSHSQHYRHTPLEHHHHHH"
)
GB1_SITES = (39, 40, 41, 54)  # 1-based positions mutated by Wu et al. (2016)


def dataset_name(split: str) -> str:
    """The pipeline's name of a split: ``gb1_<split>``."""
    return f"{UNIT}_{split}"


def metadata_path(out_dir: str | os.PathLike, split: str) -> Path:
    """``<out>/FLIP_metadata/gb1_<split>.csv``."""
    return layout.metadata_path(SET, dataset_name(split), out_dir)


def fasta_path(out_dir: str | os.PathLike) -> Path:
    """``<out>/FLIP/gb1.fasta``: the sequences of every split (the embedding unit)."""
    return layout.fasta_path(SET, UNIT, out_dir)


def wildtype_path(out_dir: str | os.PathLike) -> Path:
    """``<out>/FLIP/gb1_wildtype.fasta``."""
    return layout.unit_wildtype_path(SET, UNIT, out_dir)


def report_path(out_dir: str | os.PathLike) -> Path:
    """``<out>/FLIP/prepare_report.csv``."""
    return Path(out_dir) / SET / "prepare_report.csv"


def read_split(source: str | os.PathLike, split: str) -> pd.DataFrame:
    """One split's CSV from a mirror directory or from FLIP's ``splits.zip``."""
    import pandas as pd

    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [name for name in archive.namelist() if Path(name).name == f"{split}.csv"]
            if not members:
                raise UserError(f"{source}: no {split}.csv in the archive (FLIP's splits/gb1/splits.zip "
                                "holds splits/<split>.csv)")
            return pd.read_csv(io.BytesIO(archive.read(members[0])))
    for candidate in (source / f"{split}.csv.gz", source / f"{split}.csv"):
        if candidate.is_file():
            return pd.read_csv(candidate)
    raise UserError(f"{source}: no {split}.csv.gz or {split}.csv (a FLIP GB1 mirror directory or splits.zip)")


def variant_id(sequence: str, wildtype: str = GB1_WILDTYPE, sites: tuple[int, ...] = GB1_SITES) -> str:
    """The residues of ``sequence`` at ``sites`` (e.g. ``VDGV``); an error if it differs elsewhere."""
    if len(sequence) != len(wildtype):
        raise UserError(f"a sequence of {len(sequence)} residues; FLIP's GB1 sequences have {len(wildtype)}")
    allowed = {site - 1 for site in sites}
    other = [index + 1 for index, (a, b) in enumerate(zip(wildtype, sequence, strict=True))
             if a != b and index not in allowed]
    if other:
        raise UserError(f"a sequence differs from the GB1 wild type outside sites {sites}: at {other[:5]}")
    return "".join(sequence[site - 1] for site in sites)


def prepare_split(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A released split as the pipeline's metadata: ``ID,target,sequence,set,validation``."""
    import pandas as pd

    missing = [column for column in SOURCE_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{source}: missing column(s) {missing}; FLIP's splits have sequence,target,set,validation")
    sequences = [check_sequence(str(sequence).strip().upper(), f"{source} row {row + 2}")
                 for row, sequence in enumerate(frame["sequence"])]
    try:
        ids = [variant_id(sequence) for sequence in sequences]
    except UserError as error:
        raise UserError(f"{source}: {error}") from None
    out = pd.DataFrame({"ID": ids, "target": pd.to_numeric(frame["target"], errors="coerce"),
                        "sequence": sequences, "set": frame["set"].astype(str).str.strip().str.lower()})
    validation = frame["validation"] if "validation" in frame.columns else pd.Series(False, index=frame.index)
    out["validation"] = validation.astype(str).str.strip().str.lower().eq("true").to_numpy()
    if out["ID"].duplicated().any():
        raise UserError(f"{source}: repeated variants, e.g. {out['ID'][out['ID'].duplicated()].iloc[0]}")
    if out["target"].isna().any():
        raise UserError(f"{source}: {int(out['target'].isna().sum())} row(s) without a numeric target")
    unknown = sorted(set(out["set"]) - {"train", "test"})
    if unknown:
        raise UserError(f"{source}: column 'set' must hold train or test, found {unknown[:5]}")
    if (out["validation"] & out["set"].ne("train")).any():
        raise UserError(f"{source}: validation rows outside the training set")
    return out


def set_sizes(metadata: pd.DataFrame) -> dict[str, int]:
    """Rows per set: ``train`` (validation included), ``validation``, ``test``, ``total``."""
    train = metadata["set"].eq("train")
    return {"train": int(train.sum()), "validation": int(metadata["validation"].sum()),
            "test": int(metadata["set"].eq("test").sum()), "total": len(metadata)}


@dataclass
class SplitReport:
    """What preparing one split wrote."""

    split: str
    dataset: str
    train: int
    validation: int
    test: int
    total: int
    path: Path


def prepare(source: str | os.PathLike, out_dir: str | os.PathLike,
            splits: tuple[str, ...] = SPLITS) -> list[SplitReport]:
    """Write every split's metadata, the shared FASTA, the wild type and the report; see the module."""
    import pandas as pd

    reports, sequences = [], {}
    for split in splits:
        if split not in SPLITS:
            raise UserError(f"unknown FLIP GB1 split {split!r}: use {', '.join(SPLITS)}")
        metadata = prepare_split(read_split(source, split), f"{source}:{split}")
        for identifier, sequence in zip(metadata["ID"], metadata["sequence"], strict=True):
            sequences.setdefault(identifier, sequence)
        path = write_dataframe_csv(metadata[COLUMNS], _mkdir(metadata_path(out_dir, split)))
        reports.append(SplitReport(split, dataset_name(split), path=path, **set_sizes(metadata)))
    write_fasta(sequences.items(), _mkdir(fasta_path(out_dir)))
    write_fasta([(variant_id(GB1_WILDTYPE), GB1_WILDTYPE)], wildtype_path(out_dir))
    rows = [{key: value for key, value in vars(report).items() if key != "path"} for report in reports]
    write_dataframe_csv(pd.DataFrame(rows), report_path(out_dir))
    return reports


def _mkdir(path: Path) -> Path:
    """``path`` after creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
