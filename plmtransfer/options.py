"""The choices the command-line scripts offer, in a module that imports nothing heavy.

``scripts/*.py --help`` and every usage error must answer at once, so the parsers read their
choice lists here instead of importing the stage modules (which pull in torch, scikit-learn,
SciPy, pandas or matplotlib). Each list has its one home here; the stage modules import it.
"""

from __future__ import annotations

import re

from plmtransfer.errors import UserError

# extraction (plmtransfer.extract, plmtransfer.backends.base)
INCLUDE_CHOICES = ("mean", "per_tok", "bos", "contacts", "attentions")
ATTENTION_HEAD_CHOICES = ("all", "mean")  # --attention_heads: every head, or their mean per layer
LONG_CHOICES = ("truncate", "chunk")
FORMAT_CHOICES = ("pkl", "npz")
DTYPE_NAMES = ("float32", "bfloat16", "float16")

# regression (plmtransfer.regress, plmtransfer.splits)
REGRESSORS = ("lassocv", "ridgecv", "elasticnetcv")
SCALINGS = ("global", "fold")
FEATURE_SETS = ("input", "onehot+score")
CV_SCHEMES = ("random", "contiguous", "modulo", "predefined")
# learning curves: the study's subsample sizes (those below the number of rows, then that number)
STUDY_SAMPLE_SIZES = (32, 100, 320, 1000, 3200, 10000, 32000, 100000, 320000, 1000000, 3200000)

# zero-shot scores (plmtransfer.zero_shot, plmtransfer.backends.language_model): the scorings of a
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
LANGUAGE_MODEL_MODULES = {
    "esm": "plmtransfer.backends.esm_lm",
    "hf": "plmtransfer.backends.hf_lm",
    "unirep": "plmtransfer.backends.unirep_lm",
}

# GO-term function caller (plmtransfer.go_terms): the --dataset_subset choices and CAFA aspects
GO_ASPECTS = {"mf": "MFO", "bp": "BPO", "cc": "CCO"}
GO_SUBSETS = ("all", *GO_ASPECTS)

# statistics and figures (plmtransfer.stats)
DESIGN_FACTORS = ("Compression_method", "Embedding_model")
ADJUST_METHODS = ("single-step", "holm", "bonferroni", "none")


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``K/N`` (1 <= K <= N) into ``(K, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UserError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))
