"""The file layout of docs/contracts.md: every path and file name the stages exchange.

Stages talk only through files, so these names are the pipeline's interface: data preparation
writes them, the workflow plans them, the stages and the benchmarks read them. Each is built here
and nowhere else; a name that carries meaning (a compressed file's method, a result file's data
set and method) is parsed here too. Paths are relative to a run's root unless a ``root`` is given
(``data_dir`` for the data files, which ``prepare_*.py --out-dir`` can move). Imports nothing
heavy: the parsers, the workflow and ``--help`` read it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from plmtransfer.options import RegressOptions
from plmtransfer.stages import STATS_STEP

PathLike = str | os.PathLike

DATA_DIR = "data"
EMBEDDINGS_DIR = "embeddings"
RESULTS_DIR = "results"
FIGURES_DIR = "figures"
LOGS_DIR = "logs"
DMS = "DMS"
PISCES = "PISCES"
SETS = (DMS, PISCES)
# the outer CV scheme whose results and statistics take no folder suffix: the study's, the default
STUDY_CV = RegressOptions.cv
# the protocol (the alpha search's inner CV, reg_lassoCV.py --inner-cv) whose folders take no suffix: the study's
STUDY_PROTOCOL = RegressOptions.inner_cv
PER_TOKEN_SUFFIX = ".pt"
# label -> file name of a per-sequence directory, written when a FASTA header is not a safe file name
LABELS_FILE = "labels.tsv"
COMPRESSED_PREFIX = "embed_layer_"
RESULT_SUFFIX = ".csv"


# ----------------------------------------------------------------------------- data


def metadata_dir(set_name: str, data_dir: PathLike = DATA_DIR) -> Path:
    """The directory of a family's metadata CSVs: ``data/DMS_metadata`` or ``data/PISCES_metadata``."""
    return Path(data_dir) / f"{set_name}_metadata"


def metadata_name(set_name: str, dataset: str) -> str:
    """A data set's metadata file name: ``<D>_metadata.csv`` (DMS) or ``<target>.csv`` (PISCES)."""
    return f"{dataset}_metadata.csv" if set_name == DMS else f"{dataset}.csv"


def metadata_path(set_name: str, dataset: str, data_dir: PathLike = DATA_DIR) -> Path:
    """The ``ID,...,target`` CSV of a data set."""
    return metadata_dir(set_name, data_dir) / metadata_name(set_name, dataset)


def metadata_candidates(directory: PathLike, dataset: str) -> list[Path]:
    """Where a metadata directory may hold a data set's CSV, in order: ``<D>_metadata.csv``, ``<D>.csv``."""
    return [Path(directory) / metadata_name(DMS, dataset), Path(directory) / metadata_name(PISCES, dataset)]


def mirror_candidates(directory: PathLike, dataset: str) -> list[Path]:
    """Where an offline mirror may hold an assay, in order: ``<D>.csv.gz``, ``<D>_metadata.csv``."""
    return [Path(directory) / f"{dataset}.csv.gz", Path(directory) / metadata_name(DMS, dataset)]


def dataset_of_metadata(path: PathLike) -> str:
    """The data set a metadata file names: ``<D>_metadata.csv`` or ``<D>.csv(.gz)`` -> ``<D>``."""
    name = Path(path).name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name.removesuffix("_metadata")


def present_datasets(set_name: str, data_dir: PathLike = DATA_DIR) -> list[str]:
    """Every data set whose metadata CSV is in the family's metadata directory, sorted."""
    suffix = metadata_name(set_name, "")
    return sorted(path.name[: -len(suffix)] for path in metadata_dir(set_name, data_dir).glob(f"*{suffix}"))


def fasta_path(set_name: str, unit: str, data_dir: PathLike = DATA_DIR) -> Path:
    """The FASTA of an embedding unit: ``DMS_mut_sequences/<D>_muts.fasta``, else ``<SET>/<unit>.fasta``."""
    if set_name == DMS:
        return Path(data_dir) / "DMS_mut_sequences" / f"{unit}_muts.fasta"
    return Path(data_dir) / set_name / f"{unit}.fasta"


def wildtype_name(name: str) -> str:
    """``<name>_wildtype.fasta``: the wild type of an assay or of a family's embedding unit."""
    return f"{name}_wildtype.fasta"


def wildtype_path(dataset: str, data_dir: PathLike = DATA_DIR) -> Path:
    """A DMS assay's wild-type FASTA (derived from its variants), beside its metadata."""
    return metadata_dir(DMS, data_dir) / wildtype_name(dataset)


def unit_wildtype_path(set_name: str, unit: str, data_dir: PathLike = DATA_DIR) -> Path:
    """The wild type of a family whose data sets share one embedding unit, beside the unit's FASTA."""
    return fasta_path(set_name, unit, data_dir).with_name(wildtype_name(unit))


def wildtype_beside(metadata: PathLike) -> Path:
    """The wild-type FASTA beside any metadata file (``<D>_wildtype.fasta``)."""
    path = Path(metadata)
    return path.with_name(wildtype_name(dataset_of_metadata(path)))


def dms_report_path(data_dir: PathLike = DATA_DIR) -> Path:
    """The DMS preparation summary (one row per assay)."""
    return Path(data_dir) / "DMS_prepare_report.csv"


def pisces_unit(min_length: int, max_length: int) -> str:
    """The name of the PISCES chain set of chains of ``min_length``-``max_length`` residues."""
    return f"pisces_len{min_length}-{max_length}"


def pisces_summary_path(data_dir: PathLike = DATA_DIR) -> Path:
    """The PISCES target summary (outside ``PISCES_metadata/`` so it is not taken for a target)."""
    return Path(data_dir) / PISCES / "targets_summary.csv"


# ----------------------------------------------------------------------------- embeddings


def per_token_dir(set_name: str, model: str, unit: str, root: PathLike = ".") -> Path:
    """The per-sequence ``.pt`` directory of a model and embedding unit."""
    return Path(root) / EMBEDDINGS_DIR / set_name / model / unit


def per_token_file(directory: PathLike, stem: str) -> Path:
    """A sequence's per-token file in a per-sequence directory: ``<stem>.pt``."""
    return Path(directory) / f"{stem}{PER_TOKEN_SUFFIX}"


def compressed_dir(set_name: str, model: str, unit: str, root: PathLike = ".") -> Path:
    """The compressed-embedding directory of a model and embedding unit."""
    return Path(root) / EMBEDDINGS_DIR / f"{set_name}_compressed" / model / unit


def compressed_name(layer: int | str, method: str, file_format: str = "pkl") -> str:
    """``embed_layer_<L>_<method>.<format>``, the compressed-embedding file name."""
    return f"{COMPRESSED_PREFIX}{layer}_{method}.{file_format}"


def compressed_file(directory: PathLike, layer: int | str, method: str, file_format: str = "pkl") -> Path:
    """A compressed-embedding file in ``directory`` (a stage's output folder)."""
    return Path(directory) / compressed_name(layer, method, file_format)


def compressed_path(set_name: str, model: str, unit: str, layer: int | str, method: str,
                    file_format: str = "pkl", root: PathLike = ".") -> Path:
    """The compressed embeddings of a model, embedding unit, layer and method."""
    return compressed_file(compressed_dir(set_name, model, unit, root), layer, method, file_format)


def split_stem(stem: str, methods: Iterable[str] = ()) -> tuple[str, str]:
    """Split a file stem ``<prefix>_<method>`` into (prefix, method).

    The method is the part after the last ``_`` (data-set names contain ``_``, methods such as
    ``pca1-2`` contain ``-``), except a name of ``methods`` that holds ``_`` (UniRep's ``h_avg``),
    kept whole, also with a ``+`` suffix (``h_avg+score`` of the augmented regression).
    """
    for name in sorted((method for method in methods if "_" in method), key=len, reverse=True):
        marker = "_" + name
        index = stem.rfind(marker)
        end = index + len(marker)
        if index > 0 and (end == len(stem) or stem[end] == "+"):
            return stem[:index], stem[index + 1:]
    prefix, _, method = stem.rpartition("_")
    return prefix, method


def compressed_method(path: PathLike, methods: Iterable[str] = ()) -> str:
    """The method a compressed file names: ``embed_layer_30_mean.pkl`` -> ``mean`` (see :func:`split_stem`).

    A result file's stem ``<D>_<method>`` is parsed by :func:`split_stem` too.
    """
    return split_stem(Path(path).name.split(".")[0], methods)[1]


# ----------------------------------------------------------------------------- results


def results_suffix(cv: str = STUDY_CV, protocol: str = STUDY_PROTOCOL, layer: int | None = None) -> str:
    """The folder suffix of a protocol variant, outer CV scheme and swept layer; empty for the study's.

    ``_<protocol>`` for an inner-CV variant, ``_<cv>`` for another outer CV scheme, both as
    ``_<protocol>+<cv>`` (the ``Protocol`` column's name, less a leading ``study+``), then
    ``_L<layer>`` for a layer of a layer sweep other than the model's own (``layer=None``: its own).
    """
    parts = [part for part, study in ((protocol, STUDY_PROTOCOL), (cv, STUDY_CV)) if part != study]
    return (f"_{'+'.join(parts)}" if parts else "") + (f"_L{layer}" if layer is not None else "")


def results_name(step: str, cv: str = STUDY_CV, protocol: str = STUDY_PROTOCOL, layer: int | None = None) -> str:
    """A results folder: the step's name for the study's protocol, else ``<step><suffix>`` (:func:`results_suffix`)."""
    return step + results_suffix(cv, protocol, layer)


def results_dir(step: str, cv: str, set_name: str, root: PathLike = ".", protocol: str = STUDY_PROTOCOL,
                layer: int | None = None) -> Path:
    """The results tree of a step, CV scheme, protocol, swept layer and family: ``results/<step>[<suffix>]/<SET>``."""
    return Path(root) / RESULTS_DIR / results_name(step, cv, protocol, layer) / set_name


def result_name(dataset: str, method: str) -> str:
    """``<D>_<method>.csv``, a per-fold result file name."""
    return f"{dataset}_{method}{RESULT_SUFFIX}"


def result_path(step: str, cv: str, set_name: str, model: str, dataset: str, method: str,
                root: PathLike = ".", protocol: str = STUDY_PROTOCOL, layer: int | None = None) -> Path:
    """The per-fold result CSV of a step, CV scheme, model, data set and method (protocol, swept layer)."""
    return results_dir(step, cv, set_name, root, protocol, layer) / model / result_name(dataset, method)


def compressed_layer(path: PathLike) -> int | None:
    """The layer a compressed file names: ``embed_layer_30_mean.pkl`` -> 30 (None for another name)."""
    name = Path(path).name
    number = name[len(COMPRESSED_PREFIX):].partition("_")[0] if name.startswith(COMPRESSED_PREFIX) else ""
    return int(number) if number.isdigit() else None


def zero_shot_dir(root: PathLike = ".") -> Path:
    """The zero-shot scores: ``results/zero_shot`` (``<model>/<D>_<scoring>.csv`` and ``<D>_summary.csv``)."""
    return Path(root) / RESULTS_DIR / "zero_shot"


def stats_dir(set_name: str, cv: str = STUDY_CV, root: PathLike = ".", protocol: str = STUDY_PROTOCOL) -> Path:
    """The statistics of a family, CV scheme and protocol: ``results/stats[<suffix>]/<SET>``."""
    return Path(root) / RESULTS_DIR / results_name(STATS_STEP, cv, protocol) / set_name


def figures_dir(set_name: str, cv: str = STUDY_CV, root: PathLike = ".", protocol: str = STUDY_PROTOCOL) -> Path:
    """The figures of a family, CV scheme and protocol: ``figures/<SET>[<suffix>]``."""
    return Path(root) / FIGURES_DIR / results_name(set_name, cv, protocol)


def log_path(step: str, model: str, item: str, root: PathLike = ".", layer: int | None = None) -> Path:
    """The log of one item of a step: ``logs/<step>/<model>/<item>.log`` (``<item>_L<layer>.log`` for a swept layer)."""
    return Path(root) / LOGS_DIR / step / model / f"{item}{'' if layer is None else f'_L{layer}'}.log"


def stats_log_path(set_name: str, cv: str = STUDY_CV, root: PathLike = ".", protocol: str = STUDY_PROTOCOL) -> Path:
    """The log of a family's statistics report: ``logs/stats/<SET>[<suffix>].log``."""
    return Path(root) / LOGS_DIR / STATS_STEP / f"{results_name(set_name, cv, protocol)}.log"
