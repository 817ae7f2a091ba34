"""The choices and defaults the command-line scripts offer, in a module that imports nothing heavy.

``scripts/*.py --help`` and every usage error must answer at once, so the parsers read their
choice lists and their defaults here instead of importing the stage modules (which pull in torch,
scikit-learn, SciPy, pandas or matplotlib). Each list has its one home here, and each stage
option's default its one home in the stage's options dataclass below (the parser's ``default=``
reads it); the stage modules import both.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from plmtransfer.errors import UserError

# extraction (plmtransfer.embed.extract, plmtransfer.backends.base)
INCLUDE_CHOICES = ("mean", "per_tok", "bos", "contacts", "attentions")
ATTENTION_HEAD_CHOICES = ("all", "mean")  # --attention_heads: every head, or their mean per layer
LONG_CHOICES = ("truncate", "chunk")
FORMAT_CHOICES = ("pkl", "npz")
DTYPE_NAMES = ("float32", "bfloat16", "float16")
# --repr_layers all: every layer 0 (the token embedding, no context) .. num_layers, in fair-esm's numbering
ALL_LAYERS = "all"
# the workflow's `layers` (config/study.yaml, the drivers' --layers): a list of layers or one of these words;
# last = the model's own layer (the study's: its last, unless NAME:LAYER or model_defaults says another)
LAYER_WORDS = ("last", ALL_LAYERS)

# regression (plmtransfer.learn.regress, plmtransfer.learn.splits)
REGRESSORS = ("lassocv", "ridgecv", "elasticnetcv")
SOLVERS = ("sklearn", "compiled", "fast")
"""How ``--regressor lassocv`` is solved: scikit-learn's LassoCV (the study's code), the same search
compiled (the whole grid, LassoCV's choice of alpha) or compiled with an early stop along the grid."""
SCALINGS = ("global", "fold")
FEATURE_SETS = ("input", "onehot+score")
CV_SCHEMES = ("random", "contiguous", "modulo", "predefined")
# inner CV of the cross-validated regressors (the alpha search): study = KFold(5) without shuffling (the
# study's, scikit-learn's default); shuffled = KFold(5, shuffle=True, random_state=42); grouped = GroupKFold(5)
# on the mutated position (single mutants), so an inner fold never splits one position; validation = one
# predefined split (PredefinedSplit) of each training part by the metadata's boolean validation column (FLIP's
# rows held out for tuning; --cv predefined only)
INNER_CV_SCHEMES = ("study", "shuffled", "grouped", "validation")
# learning curves: the study's subsample sizes (those below the number of rows, then that number); the
# one home of the sizes (config/study.yaml's learning_curve_sizes is empty unless a run overrides them)
STUDY_SAMPLE_SIZES = (32, 100, 320, 1000, 3200, 10000, 32000, 100000, 320000, 1000000, 3200000)

# zero-shot scores (plmtransfer.learn.zero_shot, plmtransfer.backends.language_model): the scorings of a
# masked language model (ESM) and of a left-to-right one (UniRep)
MASKED_LM_SCORINGS = ("masked-marginals", "wt-marginals", "mutant-marginals", "pseudo-ppl")
CAUSAL_LM_SCORINGS = ("llr",)
SCORINGS = MASKED_LM_SCORINGS + CAUSAL_LM_SCORINGS
SCORING_COSTS = {
    "masked-marginals": "one pass per distinct set of mutated positions (L at most for single mutants)",
    "wt-marginals": ("one pass of the wild type for the whole assay (proteins longer than the model's "
                     "window: one per distinct window)"),
    "mutant-marginals": "one pass per variant",
    "pseudo-ppl": "L passes per variant, plus L for the wild type (the most expensive by far)",
    "llr": ("one recurrent pass of the wild type, then each variant from its first mutated position "
            "on (prefix sharing: L - p recurrent steps for a first mutation at residue p)"),
}
DEFAULT_TOKS_PER_BATCH = 4096

# GO-term function caller (plmtransfer.learn.go_terms): the --dataset_subset choices and CAFA aspects
GO_ASPECTS = {"mf": "MFO", "bp": "BPO", "cc": "CCO"}
GO_SUBSETS = ("all", *GO_ASPECTS)
# the other spellings --dataset_subset accepts: the OBO namespaces (the original caller's README spells
# them so) and the CAFA aspect codes
GO_SUBSET_SYNONYMS = {"molecular_function": "mf", "biological_process": "bp", "cellular_component": "cc",
                      **{aspect: subset for subset, aspect in GO_ASPECTS.items()}}


def go_subset(text: str) -> str:
    """A ``--dataset_subset`` value in its short form: ``biological_process`` and ``BPO`` are ``bp``."""
    return GO_SUBSET_SYNONYMS.get(text.strip(), GO_SUBSET_SYNONYMS.get(text.strip().upper(), text.strip()))

# statistics and figures (plmtransfer.analysis.stats)
DESIGN_FACTORS = ("Compression_method", "Embedding_model")
ADJUST_METHODS = ("single-step", "holm", "bonferroni", "none")



@dataclass
class ExtractOptions:
    """Everything ``scripts/extract.py`` can ask for, with its defaults (:mod:`plmtransfer.embed.extract`)."""

    include: tuple[str, ...] = ()
    pool: tuple[str, ...] = ()
    repr_layers: tuple[int | str, ...] = (-1,)  # layer numbers, or ALL_LAYERS
    toks_per_batch: int | None = None  # None: the backend's own (Featuriser.toks_per_batch)
    truncation_seq_length: int = 1022
    long: str = "truncate"
    chunk_overlap: int = 256
    format: str = "pkl"
    overwrite: bool = False
    shard: tuple[int, int] = (1, 1)
    dedupe: bool = False
    nogpu: bool = False
    dtype: str = "float32"
    quiet: bool = False
    attention_heads: str = "all"


@dataclass(frozen=True)
class CompressOptions:
    """Parameters of the compression methods that have any (``swe``, the ``contact_*`` methods), with their defaults.

    ``contact_threshold``: the probability above which a pair is a predicted contact
    (:mod:`plmtransfer.embed.contacts`).
    """

    swe_directions: int = 64
    swe_quantiles: int = 16
    seed: int = 0
    contact_threshold: float = 0.5


@dataclass(frozen=True)
class RegressOptions:
    """How to cross-validate (:mod:`plmtransfer.learn.regress`): regressor, outer CV scheme, scaling, solver, checks."""

    regressor: str = "lassocv"
    cv: str = "random"  # the study's
    scaling: str = "global"
    solver: str = "sklearn"  # SOLVERS: how LassoCV is solved
    n_jobs: int | None = -1
    max_missing: float = 0.01
    augment: str | Path | None = None
    features: str = "input"
    fold_column: str | None = None  # with cv="predefined": the metadata column numbering each row's outer fold
    inner_cv: str = "study"  # the alpha search's inner CV (INNER_CV_SCHEMES)
    append: str | Path | None = None  # a compressed feature file whose columns join the input's by ID
    stack: str | Path | None = None  # a compressed feature file for a second model, stacked (learn.stacking)


@dataclass(frozen=True)
class CallerOptions:
    """Data and schedule of a function-caller run (:mod:`plmtransfer.learn.function_caller`; the seed's names)."""

    dataset_subset: str = "all"
    context_length: int = 1026
    eval_interval: int = 2
    eval_ratio: float = 0.1
    checkpoint_interval: int = 2

    def check(self) -> None:
        """Error on values that cannot work."""
        if self.dataset_subset not in GO_SUBSETS:
            raise UserError(f"unknown --dataset_subset {self.dataset_subset!r}: use {', '.join(GO_SUBSETS)}")
        if self.eval_interval < 1 or self.checkpoint_interval < 1:
            raise UserError("--eval_interval and --checkpoint_interval must be at least 1")
        if not 0 < self.eval_ratio < 1:
            raise UserError(f"--eval_ratio must be in (0, 1), got {self.eval_ratio}")


def shard_text(shard: tuple[int, int]) -> str:
    """``K/N``, the command-line form of a shard (what :func:`parse_shard` reads)."""
    return f"{shard[0]}/{shard[1]}"


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``K/N`` (1 <= K <= N) into ``(K, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UserError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))

def repr_layer(text: str) -> int | str:
    """argparse type of ``--repr_layers``: a layer number (negative counts from the end) or ``all``."""
    if text.strip() == ALL_LAYERS:
        return ALL_LAYERS
    if not re.fullmatch(r"-?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"must be a layer number or '{ALL_LAYERS}', got '{text}'")
    return int(text)


def positive_int(text: str) -> int:
    """argparse type: a positive integer, written as one (``--jobs 2``; not ``0``, ``-1`` or ``2.5``)."""
    if not re.fullmatch(r"[1-9][0-9]*", text.strip()):
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'")
    return int(text)
