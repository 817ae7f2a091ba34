#!/usr/bin/env python
"""Figures from per-fold results and contrast tables (PNG at 200 dpi + PDF, colour-blind safe).

Subcommands (each writes <output>.png and <output>.pdf; every file written is printed):
  forest           contrasts with simultaneous CIs and stars, ordered by estimate
  model-size       score per model against parameter count, one panel per model family
  learning-curves  score against training-sample size, one line per model, one panel per data
                   set; data sets beyond one page's panels go onto <output>_page1, _page2, ...
  datasize         per-data-set mean score against data-set size with OLS fits
  heatmap          data set x method (or model) heat map of the mean score (paged likewise)
  all              every figure whose inputs exist, into --figures-dir

R² axes show the informative range (lower end: the smaller of -0.5 and the values compared);
values below it are marked ▼ on the edge and counted, with the lowest, under the panel.

--input is a results tree (results/lassoCV/<SET>), the tidy per_fold.csv of
`scripts/stats.py summarise`, or a per-fold CSV in the study's published layout.

example:
  python scripts/plot.py forest --contrasts results/stats/DMS/contrasts_Compression_method_esm2_150M.csv \\
      -o figures/DMS/forest_methods
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer.cli import HelpFormatter, add_version, run_cli
from plmtransfer.errors import UserError
from plmtransfer.options import DESIGN_FACTORS


def add_results_arguments(parser: argparse.ArgumentParser, method: bool = True) -> None:
    """Flags of the subcommands that read per-fold results."""
    parser.add_argument("--input", required=True,
                        help="results tree, tidy per_fold.csv or published per-fold CSV")
    parser.add_argument("--metadata-dir", default=None,
                        help="data/<SET>_metadata, for data-set sizes")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="keep only rows with this value (repeatable)")
    parser.add_argument("--response", default="R2_score_test", help="metric column to plot")
    if method:
        parser.add_argument("--method", default=None,
                            help="compression method to plot (needed when there are several)")


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    forest = commands.add_parser("forest", formatter_class=HelpFormatter, help="forest plot")
    forest.add_argument("--contrasts", required=True, help="CSV of `scripts/stats.py lme`")
    forest.add_argument("--title", default=None, help="figure title (default: says what is shown)")
    for name, text in (("model-size", "score against parameter count"),
                       ("learning-curves", "score against training-sample size"),
                       ("datasize", "score against data-set size"),
                       ("heatmap", "data set x method/model heat map")):
        sub = commands.add_parser(name, formatter_class=HelpFormatter, help=text)
        add_results_arguments(sub, method=name != "heatmap")
        if name == "heatmap":
            sub.add_argument("--columns", choices=DESIGN_FACTORS,
                             default="Compression_method", help="what the columns of the map are")
    everything = commands.add_parser("all", formatter_class=HelpFormatter, help="every figure")
    add_results_arguments(everything, method=False)
    everything.add_argument("--sampling", default=None,
                            help="learning-curve results tree or CSV (with Sample_size)")
    everything.add_argument("--contrasts", nargs="*", default=[],
                            help="contrast CSVs; one forest plot each")
    everything.add_argument("--method-reference", default="mean",
                            help="compression method used by figures that compare models")
    everything.add_argument("--figures-dir", required=True, help="directory for the figures")
    for name, sub in commands.choices.items():
        if name != "all":
            sub.add_argument("-o", "--output", required=True,
                             help="output path without suffix (.png and .pdf are written)")
    return add_version(parser)


def load(args):
    """Per-fold results named by --input, filtered by --where (a DataFrame)."""
    from plmtransfer import stats

    return stats.select_rows(stats.read_per_fold(args.input, args.metadata_dir), args.where)


def read_contrasts(path: str):
    """A contrast table written by `scripts/stats.py lme` (a DataFrame)."""
    import pandas as pd

    if not Path(path).is_file():
        raise UserError(f"{path}: contrast CSV not found")
    table = pd.read_csv(path)
    missing = {"level", "estimate", "ci_low", "ci_high", "p_adjusted", "stars"} - set(table)
    if missing:
        raise UserError(f"{path}: not a contrast table of scripts/stats.py lme (missing "
                        f"{', '.join(sorted(missing))})")
    table["stars"] = table["stars"].fillna("")
    return table


def draw(args) -> list[Path]:
    """Draw the figure of one subcommand; return the paths written."""
    from plmtransfer import plots, stats  # matplotlib and SciPy: after parsing, so --help is instant

    stem = Path(args.output).with_suffix("") if args.command != "all" else None
    if args.command == "forest":
        return plots.forest_plot(read_contrasts(args.contrasts), stem, args.title)
    frame = load(args)
    if args.command == "model-size":
        return plots.model_size_plot(frame, stem, args.response, args.method)
    if args.command == "learning-curves":
        return plots.learning_curve_plot(frame, stem, args.response, args.method)
    if args.command == "datasize":
        return plots.datasize_plot(frame, stem, args.response, args.method)
    if args.command == "heatmap":
        return plots.heatmap_plot(frame, stem, args.columns, args.response)
    sampling = stats.read_per_fold(args.sampling, args.metadata_dir) if args.sampling else None
    tables = {f"forest_{Path(path).stem.removeprefix('contrasts_')}": read_contrasts(path)
              for path in args.contrasts}
    paths, notes = plots.all_figures(frame, args.figures_dir, args.response, sampling, tables,
                                     method_reference=args.method_reference)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return paths


def main(argv=None) -> int:
    """Parse the arguments, draw, print the paths written."""
    args = create_parser().parse_args(argv)
    for path in draw(args):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
