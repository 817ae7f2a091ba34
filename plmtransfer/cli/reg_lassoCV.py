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
import csv
import gzip
import sys
from pathlib import Path

from tqdm import tqdm

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import (
    CV_SCHEMES,
    FEATURE_SETS,
    INNER_CV_SCHEMES,
    REGRESSORS,
    SCALINGS,
    SOLVERS,
    RegressOptions,
)


def add_fold_column_argument(parser: argparse.ArgumentParser) -> None:
    """``--fold-column``: the predefined outer folds of a metadata column (here and in finetune.py)."""
    parser.add_argument("--fold-column", default=RegressOptions.fold_column, metavar="COLUMN",
                        help="with --cv predefined: the metadata column numbering each row's outer fold; fold k tests "
                        "on the rows holding its k-th smallest value (ProteinGym's fold_random_5, fold_modulo_5, "
                        "fold_contiguous_5, kept by prepare_proteingym.py)")


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
    parser.add_argument("--regressor", choices=REGRESSORS, default=RegressOptions.regressor,
                        help="cross-validated regressor (inner 5-fold CV); lassocv is the study's")
    parser.add_argument("--inner-cv", choices=INNER_CV_SCHEMES, default=RegressOptions.inner_cv,
                        help="inner CV of the regularisation search, inside each outer training fold: study = "
                        "KFold(5) without shuffling (the study's; on rows sorted by position its folds are blocks "
                        "of positions); shuffled = KFold(5, shuffle=True, random_state=42); grouped = GroupKFold(5) "
                        "on the mutated position (needs a mutant column; single mutants only); validation = one "
                        "PredefinedSplit by the metadata's True/False validation column (FLIP's splits; --cv "
                        "predefined only): alpha tuned on the validation rows, then refitted on every training row. "
                        "Results name it in their Protocol column (docs/protocol.md#protocol-variants)")
    parser.add_argument("--cv", choices=CV_SCHEMES, default=RegressOptions.cv,
                        help="outer CV: random = the study's KFold(5, shuffle, seed 42); contiguous / "
                        "modulo = ProteinGym's position schemes (needs a mutant column; single "
                        "mutants only); predefined = a set column with train/test, or the folds of --fold-column")
    add_fold_column_argument(parser)
    parser.add_argument("--scaling", choices=SCALINGS, default=RegressOptions.scaling,
                        help="MinMax scaling fitted on all rows (the study's) or on each training fold")
    parser.add_argument("--solver", choices=SOLVERS, default=RegressOptions.solver,
                        help="how lassocv is solved: sklearn = scikit-learn's LassoCV (the study's code); compiled = "
                        "the same search (the whole 100-alpha grid, LassoCV's choice of alpha) by a compiled "
                        "re-implementation of scikit-learn's coordinate descent, several times faster; fast = "
                        "compiled, stopping 10 alphas past the best inner-CV MSE (for exploring). The compiled "
                        "solvers run the outer folds in --jobs threads (docs/fast-lasso.md)")
    parser.add_argument("--max-missing", type=float, default=RegressOptions.max_missing,
                        help="largest fraction of metadata IDs allowed to lack an embedding")
    parser.add_argument("-j", "--jobs", type=int, default=RegressOptions.n_jobs,
                        help="threads: LassoCV's inner-CV folds (-1: all cores, as the study), or the outer "
                        "folds with --solver compiled or fast; results do not depend on it")
    parser.add_argument("--augment", default=RegressOptions.augment, metavar="SCORES.csv",
                        help="append a zero-shot score (zero_shot.py's ID,mutant,score CSV) as one more feature, "
                        "joined on ID and scaled like the others; results labelled <method>+score")
    parser.add_argument("--append", default=RegressOptions.append, metavar="FEATURES.pkl",
                        help="append the columns of another compressed feature file (e.g. contact-map features, "
                        "compress.py -c contact_summary) to the input's, joined on ID and scaled with them; results "
                        "labelled <method>+<appended method> (docs/choosing.md)")
    parser.add_argument("--stack", default=RegressOptions.stack, metavar="FEATURES.pkl",
                        help="stack: fit a second model on this compressed feature file and combine the two by "
                        "non-negative least squares on their out-of-fold predictions, made by the --inner-cv scheme's "
                        "folds inside each outer training fold; results labelled <method>+stacked-<stacked method> "
                        "(12 fits per outer fold with 5 inner folds; docs/choosing.md)")
    parser.add_argument("--features", choices=FEATURE_SETS, default=RegressOptions.features,
                        help="input: the -i file (+ --augment); onehot+score: Hsu et al. 2022's augmented one-hot "
                        "model, one-hot (flat) features of the metadata's sequence column plus the score in the -i "
                        "file (a zero_shot.py CSV)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from(args: argparse.Namespace):
    """The regression options (:class:`plmtransfer.options.RegressOptions`) of parsed arguments."""
    return RegressOptions(regressor=args.regressor, cv=args.cv, scaling=args.scaling, solver=args.solver,
                          n_jobs=args.jobs, max_missing=args.max_missing, augment=args.augment,
                          features=args.features, fold_column=args.fold_column, inner_cv=args.inner_cv,
                          append=args.append, stack=args.stack)


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


def metadata_header(path: str) -> list[str]:
    """The column names of a metadata CSV (``.gz`` too), read with the csv module: no pandas needed."""
    try:
        opened = gzip.open(path, "rt", encoding="utf-8-sig") if path.endswith(".gz") else open(
            path, encoding="utf-8-sig", newline="")
        with opened as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: cannot be read as a UTF-8 CSV ({error})") from None


def check_inputs(args: argparse.Namespace) -> None:
    """Fail at once, before scikit-learn and pandas load, on a missing input, scores or metadata file
    or a metadata header without ``ID`` and ``target`` (the messages of the regression stage's readers)."""
    scores_input = args.features == "onehot+score"
    for path in args.input:
        if not Path(path).is_file():
            raise UserError(f"{path}: {'scores' if scores_input else 'compressed-embedding'} file not found")
    if args.augment is not None and not Path(args.augment).is_file():
        raise UserError(f"{args.augment}: scores file not found")
    for flag, path in (("--append", args.append), ("--stack", args.stack)):
        if path is not None and not Path(path).is_file():
            raise UserError(f"{path}: {flag} feature file not found")
    if not Path(args.metadata).is_file():
        raise UserError(f"{args.metadata}: metadata file not found")
    header = metadata_header(args.metadata)
    missing = [column for column in ("ID", "target") if column not in header]
    if missing:
        raise UserError(f"{args.metadata}: metadata needs columns 'ID' and 'target'; missing {missing}")


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--proteingym", default=None, metavar="SCORES.csv",
                        help="also write ProteinGym's supervised scores: one row per -i (model_name = "
                        "<embedding-model>_<method>, DMS_id = --dataset or the metadata's name, fold_variable_name = "
                        "--fold-column or --cv) with Spearman and MSE of the out-of-fold predictions pooled over "
                        "the folds, as ProteinGym's leaderboard computes them")
    return add_version(parser)


def proteingym_row(args: argparse.Namespace, input_path: str, predictions) -> dict:
    """The ``--proteingym`` row of one input: its names and the pooled out-of-fold scores."""
    from plmtransfer import layout
    from plmtransfer.data import proteingym
    from plmtransfer.learn import regress

    method = regress.features_label(input_path, options_from(args))
    model_name = f"{args.embedding_model}_{method}" if args.embedding_model else method
    dms_id = args.dataset or layout.dataset_of_metadata(args.metadata)
    return proteingym.supervised_scores(predictions, model_name, dms_id, args.fold_column or args.cv)


def main(argv=None) -> int:
    """Run the protocol on each embedding file and write its per-fold results."""
    parser = create_parser()
    args = parser.parse_args(argv)
    pairs = input_output_pairs(parser, args)
    check_inputs(args)
    from plmtransfer.learn import regress  # scikit-learn: after the checks, so errors and --help are instant

    scores = []
    for input_path, output in pairs:
        results, predictions = regress.run_predictions(input_path, args.metadata, options_from(args), args.dataset,
                                                       args.embedding_model, progress_bar(args, "outer folds"))
        write_dataframe_csv(results, output)
        if args.proteingym:
            scores.append(proteingym_row(args, input_path, predictions))
        if not args.quiet and results.empty:
            print(f"no folds -> {output}")
        elif not args.quiet:
            print(f"mean test R2 {results['R2_score_test'].mean():.3f}, rho "
                  f"{results['rho_score_test'].mean():.3f} -> {output}")
    if args.proteingym:
        from plmtransfer.data.proteingym import write_supervised_scores

        write_supervised_scores(scores, args.proteingym)
        if not args.quiet:
            print(f"ProteinGym supervised scores ({len(scores)} row(s)) -> {args.proteingym}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
