"""Statistics on per-fold regression results: tidy table, mixed-effects contrasts, data size.

Subcommands:
  summarise  collect a results tree (results/lassoCV/<SET>/<model>/<D>_<method>.csv) or a
             published per-fold CSV into one tidy CSV (+ a per model x method summary)
  lme        response ~ factor + (1|Dataset) + (1|Fold) by REML; each level vs a reference,
             single-step (multcomp glht-like), Holm, Bonferroni or no adjustment
  datasize   per model (x method): OLS of the per-data-set mean score on log10(dataset size)
  report     all of the above, every figure whose inputs exist, and report.html (the page to open)

examples:
  python scripts/stats.py summarise --input results/lassoCV/DMS --metadata-dir data/DMS_metadata \\
      -o results/stats/DMS/per_fold.csv
  python scripts/stats.py lme --input results/lassoCV/DMS --where Embedding_model=esm2_150M \\
      --factor Compression_method --reference mean -o results/stats/DMS/methods_esm2_150M.csv
  python scripts/stats.py report --results-dir results/lassoCV/DMS \\
      --metadata-dir data/DMS_metadata --out-dir results/stats/DMS --figures-dir figures/DMS
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import ADJUST_METHODS

SHOWN_COLUMNS = ["level", "estimate", "std_error", "z", "p_value", "p_adjusted", "ci_low",
                 "ci_high", "stars"]


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by the subcommands that read per-fold results."""
    parser.add_argument("--input", required=True,
                        help="results tree (results/lassoCV/<SET>) or one per-fold CSV (ours, "
                             "the tidy per_fold.csv, or the study's published layout)")
    parser.add_argument("--metadata-dir", default=None,
                        help="data/<SET>_metadata: dataset_size = rows of <D>_metadata.csv or <D>.csv")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="keep only rows with this value (repeatable), e.g. "
                             "Embedding_model=esm2_150M")
    parser.add_argument("--response", default="R2_score_test", help="metric column to analyse")


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    summarise = commands.add_parser("summarise", formatter_class=HelpFormatter,
                                    help="collect per-fold CSVs into one tidy CSV")
    add_input_arguments(summarise)
    summarise.add_argument("-o", "--output", required=True, help="tidy per-fold CSV to write")
    summarise.add_argument("--summary", default=None,
                           help="also write mean/SD/95%% CI over data sets per model x method here")

    lme = commands.add_parser("lme", formatter_class=HelpFormatter,
                              help="mixed-effects contrasts of every level against a reference")
    add_input_arguments(lme)
    lme.add_argument("--factor", default="Compression_method",
                     help="fixed-effect factor (Compression_method or Embedding_model, or any column)")
    lme.add_argument("--reference", default="mean", help="reference level of the factor")
    lme.add_argument("--adjust", choices=ADJUST_METHODS, default="single-step",
                     help="multiplicity adjustment of p-values and intervals (holm: Bonferroni "
                          "intervals)")
    lme.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    lme.add_argument("--seed", type=int, default=0,
                     help="seed of the multivariate-normal integration (single-step)")
    lme.add_argument("-o", "--output", required=True, help="contrast CSV to write")

    datasize = commands.add_parser("datasize", formatter_class=HelpFormatter,
                                   help="OLS of mean score on log10(data-set size) per model")
    add_input_arguments(datasize)
    datasize.add_argument("-o", "--output", required=True, help="fit CSV to write")

    report = commands.add_parser("report", formatter_class=HelpFormatter,
                                 help="summaries, contrasts, data-size fits, all figures and report.html")
    report.add_argument("--results-dir", required=True, help="results tree, e.g. results/lassoCV/DMS")
    report.add_argument("--sampling-dir", default=None,
                        help="learning-curve results, e.g. results/lassoCV_sampling/DMS")
    report.add_argument("--metadata-dir", default=None, help="e.g. data/DMS_metadata (data-set sizes)")
    report.add_argument("--out-dir", required=True, help="tables go here, e.g. results/stats/DMS")
    report.add_argument("--figures-dir", required=True, help="figures go here, e.g. figures/DMS")
    report.add_argument("--response", default="R2_score_test", help="metric column to analyse")
    report.add_argument("--method-reference", default="mean",
                        help="reference compression method (else the first alphabetically)")
    report.add_argument("--model-reference", default=None,
                        help="reference model of model contrasts (default: onehot if present, "
                             "else the smallest model)")
    report.add_argument("--adjust", choices=ADJUST_METHODS, default="single-step",
                        help="multiplicity adjustment")
    report.add_argument("--seed", type=int, default=0, help="seed of the multivariate-normal integration")
    return add_version(parser)


def load(args):
    """The per-fold results named by --input, filtered by --where (a DataFrame)."""
    from plmtransfer.analysis import stats

    return stats.select_rows(stats.read_per_fold(args.input, args.metadata_dir), args.where)


def warn(lines) -> None:
    """Print notes and warnings on stderr, one line each."""
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def run_summarise(args) -> None:
    """Write the tidy per-fold CSV (and the optional summary)."""
    from plmtransfer.analysis import layers, stats

    frame = load(args)
    print(write_dataframe_csv(frame, args.output))
    by = ["Embedding_model", "Compression_method"]
    summary = (stats.summarise_by(layers.with_layers(frame), args.response, [*by, "Layer"])
               if layers.has_layer_sweep(frame) else stats.summarise_by(frame, args.response, by))
    if args.summary:
        print(write_dataframe_csv(summary, args.summary))
    print(summary.to_string(index=False, float_format="{:.4f}".format))


def run_lme(args) -> None:
    """Fit the mixed model, print the contrasts and write them."""
    from plmtransfer.analysis import layers, stats

    frame = load(args)
    layers.require_one_layer(frame, "the mixed model")
    result = stats.fit_contrasts(frame, args.response, args.factor, args.reference,
                                 args.adjust, args.level, args.seed)
    warn(result.warnings)
    info = result.info
    print(f"{args.response} ~ {args.factor} + (1|Dataset) + (1|Fold), {info['method']}, "
          f"n={info['n_obs']}, {info['n_datasets']} data sets, {info['n_folds']} folds, "
          f"converged={info['converged']}, log-likelihood={info['log_likelihood']:.3f}")
    print(f"intercept ({args.reference}) = {info['intercept']:.4f} ± {info['intercept_se']:.4f}; "
          f"variances: Dataset {info['var_Dataset']:.4g}, Fold {info['var_Fold']:.4g}, "
          f"residual {info['var_residual']:.4g}")
    print(result.contrasts[SHOWN_COLUMNS].to_string(index=False, float_format="{:.4g}".format))
    print(write_dataframe_csv(result.contrasts, args.output))


def run_datasize(args) -> None:
    """Fit and write the data-size regressions."""
    from plmtransfer.analysis import layers, stats

    frame = load(args)
    layers.require_one_layer(frame, "the data-size fits")
    fits = stats.datasize_fits(frame, args.response)
    print(fits.to_string(index=False, float_format="{:.4g}".format))
    print(write_dataframe_csv(fits, args.output))


def run_report(args) -> None:
    """Run the whole statistics stage and print every path written."""
    import pandas as pd

    from plmtransfer.analysis import report

    paths, notes = report.run_report(args.results_dir, args.out_dir, args.figures_dir,
                                     args.sampling_dir, args.metadata_dir, args.response,
                                     args.method_reference, args.model_reference, args.adjust,
                                     args.seed)
    warn(notes)
    for path in paths:
        print(path)
    methods = pd.read_csv(Path(args.out_dir) / "methods_by_model.csv")
    print("methods per model: " + "; ".join(f"{row.Embedding_model}: {row.methods}"
                                            for row in methods.itertuples()))


def main(argv=None) -> int:
    """Parse the arguments and run the subcommand."""
    args = create_parser().parse_args(argv)
    {"summarise": run_summarise, "lme": run_lme, "datasize": run_datasize,
     "report": run_report}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
