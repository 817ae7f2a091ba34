#!/usr/bin/env python
"""Cross-validated LassoCV on compressed embeddings: the study's regression protocol.

Joins the metadata (ID, target) with the embeddings on ID, scales features to [0, 1], runs an
outer 5-fold CV with LassoCV(max_iter=1000, tol=1e-2) in each fold and writes one CSV row per
fold: R2/MAE/RMSE/Spearman rho on train and test, non-zero coefficients, alpha, fit time,
Compression_method (parsed from the input name, e.g. embed_layer_30_mean.pkl -> mean).

example:
  python scripts/reg_lassoCV.py -i embeddings/DMS_compressed/esm2_150M/IF1_ECOLI/embed_layer_30_mean.pkl \\
      -m data/DMS_metadata/IF1_ECOLI_metadata.csv -o results/lassoCV/DMS/esm2_150M/IF1_ECOLI_mean.csv \\
      --dataset IF1_ECOLI --embedding-model esm2_150M
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from plmtransfer.cli import HelpFormatter, add_version, run_cli
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import CV_SCHEMES, FEATURE_SETS, REGRESSORS, SCALINGS


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by reg_lassoCV.py and reg_lassoCV_sampling.py."""
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="compressed embeddings: .pkl/.pt dict {ID: vector}, .npz (ids + matrix) "
                        "or .csv whose first column is ID; several (one per method) run in one process")
    parser.add_argument("-m", "--metadata", required=True, help="metadata CSV with columns ID and target")
    parser.add_argument("-o", "--output", required=True, nargs="+",
                        help="output CSV (directories are created), one per --input in the same order")
    parser.add_argument("--dataset", default=None, help="fill a Dataset column with this name")
    parser.add_argument("--embedding-model", default=None,
                        help="fill an Embedding_model column with this name (e.g. esm2_150M)")
    parser.add_argument("--regressor", choices=REGRESSORS, default="lassocv",
                        help="cross-validated regressor (inner 5-fold CV); lassocv is the study's")
    parser.add_argument("--cv", choices=CV_SCHEMES, default="random",
                        help="outer CV: random = the study's KFold(5, shuffle, seed 42); contiguous / "
                        "modulo = ProteinGym's position schemes (needs a mutant column; single "
                        "mutants only); predefined = a set column with train/test")
    parser.add_argument("--scaling", choices=SCALINGS, default="global",
                        help="MinMax scaling fitted on all rows (the study's) or on each training fold")
    parser.add_argument("--fast", action="store_true",
                        help="faster LassoCV (lassocv only): the study's alpha grid and inner CV, solved by a "
                        "compiled re-implementation of scikit-learn's coordinate descent (numba) that stops 10 "
                        "alphas past the best inner-CV MSE; outer folds run in --jobs threads. Usually the "
                        "study's alpha; test R2 may differ slightly when it is not (docs/fast-lasso.md)")
    parser.add_argument("--max-missing", type=float, default=0.01,
                        help="largest fraction of metadata IDs allowed to lack an embedding")
    parser.add_argument("-j", "--jobs", type=int, default=-1,
                        help="threads: LassoCV's inner-CV folds (-1: all cores, as the study), or the outer "
                        "folds with --fast; results do not depend on it")
    parser.add_argument("--augment", default=None, metavar="SCORES.csv",
                        help="append a zero-shot score (zero_shot.py's ID,mutant,score CSV) as one more feature, "
                        "joined on ID and scaled like the others; results labelled <method>+score")
    parser.add_argument("--features", choices=FEATURE_SETS, default="input",
                        help="input: the -i file (+ --augment); onehot+score: Hsu et al. 2022's augmented one-hot "
                        "model, one-hot (flat) features of the metadata's sequence column plus the score in the -i "
                        "file (a zero_shot.py CSV)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace):
    """The regression options (:class:`plmtransfer.regress.Options`) of parsed arguments."""
    from plmtransfer import regress  # scikit-learn: after parsing, so --help is instant

    return regress.Options(regressor=args.regressor, cv=args.cv, scaling=args.scaling, fast=args.fast,
                           n_jobs=args.jobs, max_missing=args.max_missing, augment=args.augment,
                           features=args.features)


def progress_bar(args: argparse.Namespace, description: str):
    """A tqdm wrapper for the fold loop, or None with --quiet."""
    if args.quiet:
        return None
    return lambda items: tqdm(items, desc=description, unit="fold" if "fold" in description else "size")


def input_output_pairs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, str]]:
    """(input, output) pairs of -i/-o; a usage error unless both name as many files."""
    if len(args.input) != len(args.output):
        parser.error(f"-i names {len(args.input)} files but -o names {len(args.output)}: give one output per input")
    return list(zip(args.input, args.output, strict=True))


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_common_arguments(parser)
    return add_version(parser)


def main(argv=None) -> int:
    """Run the protocol on each embedding file and write its per-fold results."""
    parser = create_parser()
    args = parser.parse_args(argv)
    from plmtransfer import regress  # scikit-learn: after parsing, so --help is instant

    for input_path, output in input_output_pairs(parser, args):
        results = regress.run(input_path, args.metadata, options_from(args), args.dataset,
                              args.embedding_model, progress_bar(args, "outer folds"))
        write_dataframe_csv(results, output)
        if not args.quiet and results.empty:
            print(f"no folds -> {output}")
        elif not args.quiet:
            print(f"mean test R2 {results['R2_score_test'].mean():.3f}, rho "
                  f"{results['rho_score_test'].mean():.3f} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
