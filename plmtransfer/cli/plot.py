"""Figures from per-fold results and contrast tables (PNG at 200 dpi + PDF, colour-blind safe).

Subcommands (each writes <output>.png and <output>.pdf; every file written is printed):
  forest           contrasts with simultaneous CIs and stars, ordered by estimate
  model-size       score per model against parameter count, one panel per model family
  learning-curves  score against training-sample size, one line per model, one panel per data
                   set; data sets beyond one page's panels go onto <output>_page1, _page2, ...
  datasize         per-data-set mean score against data-set size with OLS fits
  heatmap          data set x method (or model) heat map of the mean score (paged likewise)
  layers           score and Spearman against relative depth (layer / layers), one line per model,
                   best layer marked (results of several layers of a model: a layer sweep)
  contacts         one protein's predicted contact map from an extract output (<label>.pt with
                   contacts), with an optional secondary-structure track, true contacts and a
                   grid of attention heads (<output>_attention)
  all              every figure whose inputs exist, into --figures-dir

R² axes show the informative range (lower end: the smaller of -0.5 and the values compared);
values below it are marked ▼ on the edge and counted, with the lowest, under the panel.

--input is a results tree (results/lassoCV/<SET>), the tidy per_fold.csv of
`scripts/stats.py summarise`, or a per-fold CSV in the study's published layout.

examples:
  python scripts/plot.py forest --contrasts results/stats/DMS/contrasts_Compression_method_esm2_150M.csv \\
      -o figures/DMS/forest_methods
  python scripts/extract.py esm2_t30_150M_UR50D 1abc-A.fasta maps/esm2_150M --repr_layers 30 \\
      --include contacts attentions
  python scripts/plot.py contacts --input maps/esm2_150M/1abc-A.pt --model esm2_t30_150M_UR50D \\
      --secondary-structure ss3_sampled.fasta.gz --distance-map 1abc-A_cb.npy --attention 30:0-3 30:mean \\
      -o figures/contacts_1abc-A
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.errors import UserError
from plmtransfer.options import DESIGN_FACTORS

CONTACTS_EXAMPLE = """
example (a PISCES chain; its secondary structure from the same mirror):
  python scripts/extract.py esm2_t30_150M_UR50D 1es5-A.fasta maps/esm2_150M --repr_layers 30 \\
      --include contacts attentions
  python scripts/plot.py contacts --input maps/esm2_150M/1es5-A.pt --model esm2_t30_150M_UR50D \\
      --secondary-structure data/pisces/ss3_sampled.fasta.gz --attention 30:0-3 30:mean \\
      -o figures/contacts_1es5-A
  -> figures/contacts_1es5-A.png/.pdf and figures/contacts_1es5-A_attention.png/.pdf
"""


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
                       ("heatmap", "data set x method/model heat map"),
                       ("layers", "score against relative depth (a layer sweep)")):
        sub = commands.add_parser(name, formatter_class=HelpFormatter, help=text)
        add_results_arguments(sub, method=name != "heatmap")
        if name == "heatmap":
            sub.add_argument("--columns", choices=DESIGN_FACTORS,
                             default="Compression_method", help="what the columns of the map are")
    add_contacts_parser(commands)
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


def add_contacts_parser(commands) -> None:
    """The ``contacts`` subcommand: a protein's contact map (and attention heads) from an extract output."""
    sub = commands.add_parser("contacts", formatter_class=HelpFormatter, help="a protein's contact map",
                              description="Draw one protein's predicted contact map from scripts/extract.py "
                                          "--include contacts [attentions] output; residues are numbered "
                                          "from 1.", epilog=CONTACTS_EXAMPLE)
    sub.add_argument("--input", required=True, help="per-sequence <label>.pt of scripts/extract.py")
    sub.add_argument("--model", required=True, help="the model that made it (for the title; the .pt "
                                                    "does not record it)")
    sub.add_argument("--protein", default=None, help="name in the title (default: the file's label)")
    sub.add_argument("--attention", nargs="+", default=[], metavar="LAYER:HEADS",
                     help="attention maps to draw as a grid (<output>_attention): LAYER:HEAD (heads "
                          "from 0), LAYER:FIRST-LAST, LAYER:all or LAYER:mean; needs --include "
                          "attentions at extraction; at most 16 maps")
    sub.add_argument("--secondary-structure", default=None, metavar="HEC_OR_FASTA",
                     help="per-residue H (helix), E (strand), C (coil): the letters themselves, or a "
                          "FASTA file (e.g. data/pisces/ss3_sampled.fasta.gz) holding a record named "
                          "like the protein (or a single record)")
    truth = sub.add_mutually_exclusive_group()
    truth.add_argument("--true-contacts", default=None, metavar="NPY",
                       help="L x L 0/1 matrix (.npy) of true contacts, drawn as dots in the lower triangle")
    truth.add_argument("--distance-map", default=None, metavar="NPY",
                       help="L x L residue distances in Å (.npy, NaN = unknown); pairs closer than "
                            "--cutoff are the true contacts")
    sub.add_argument("--cutoff", type=float, default=8.0, help="contact distance for --distance-map (Å)")
    sub.add_argument("--min-separation", type=int, default=6,
                     help="true contacts closer than this in sequence (|i - j|) are not drawn")


def draw_contacts(args) -> list[Path]:
    """The ``contacts`` subcommand: read the extract output and the optional tracks, then draw."""
    from plmtransfer.analysis import maps

    data = read_extract_output(args.input)
    contacts = data.get("contacts")
    length = len(contacts) if contacts is not None else None
    heads = {}
    if args.attention:
        if "attentions" not in data:
            raise UserError(f"{args.input}: no attention maps (extract with --include attentions)")
        heads = maps.attention_heads(data["attentions"], data["attention_layers"], args.attention)
        length = next(iter(heads.values())).shape[0]
    if length is None:
        raise UserError(f"{args.input}: no contact map (extract with --include contacts) and no --attention")
    protein = args.protein or str(data.get("label", Path(args.input).stem))
    structure = (read_secondary_structure(args.secondary_structure, data.get("label"), length)
                 if args.secondary_structure else None)
    truth, label = None, "true contact"
    if args.true_contacts:
        truth = read_true_contacts(args.true_contacts, length)
    elif args.distance_map:
        truth = read_distance_contacts(args.distance_map, length, args.cutoff)
        label = f"distance < {args.cutoff:g} Å"
    return maps.contact_map_plot(contacts, Path(args.output).with_suffix(""), protein, args.model, heads,
                                  structure, truth, label, args.min_separation)


def read_extract_output(path: str) -> dict:
    """A per-sequence ``.pt`` of scripts/extract.py as NumPy arrays (read with ``weights_only=True``)."""
    import torch

    if not Path(path).is_file():
        raise UserError(f"{path}: extract output not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for files that are not its own
        raise UserError(f"{path}: not a per-sequence file of scripts/extract.py ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a per-sequence file of scripts/extract.py")
    return {key: value.float().numpy() if isinstance(value, torch.Tensor) else value
            for key, value in data.items()}


def read_secondary_structure(value: str, label: str | None, length: int) -> str:
    """H/E/C letters given as text or as a FASTA file (the record named ``label``, or its only record)."""
    from plmtransfer.data.sequences import read_fasta

    where, letters = "text", value
    if Path(value).is_file():
        records = read_fasta(value, validate=False)
        named = [record for record in records if label in (record.label, record.label.split()[0])]
        if not named and len(records) != 1:
            raise UserError(f"{value}: no record named {label!r} among {len(records)} (pass --secondary-structure "
                            "a FASTA with that record, or one record)")
        record = (named or records)[0]
        where, letters = f"{value} (record {record.label!r})", record.sequence
    letters = letters.strip().upper()
    wrong = sorted(set(letters) - set("HEC"))
    if wrong:
        raise UserError(f"--secondary-structure {where}: letters {''.join(wrong)!r}; use H (helix), "
                        "E (strand), C (coil)")
    if len(letters) != length:
        raise UserError(f"--secondary-structure {where}: {len(letters)} letters for a map of {length} residues")
    return letters


def read_square_matrix(path: str, length: int, flag: str):
    """An L x L float array from a ``.npy`` file (no pickles)."""
    import numpy as np

    if not Path(path).is_file():
        raise UserError(f"{flag} {path}: file not found")
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise UserError(f"{flag} {path}: not a NumPy .npy array ({error})") from None
    if matrix.shape != (length, length):
        raise UserError(f"{flag} {path}: shape {matrix.shape}, expected ({length}, {length}) like the contact map")
    return matrix.astype(float)


def read_true_contacts(path: str, length: int):
    """An L x L 0/1 matrix of true contacts as booleans."""
    import numpy as np

    matrix = read_square_matrix(path, length, "--true-contacts")
    if not np.isin(matrix, (0.0, 1.0)).all():
        raise UserError(f"--true-contacts {path}: values other than 0 and 1 (a distance map? use --distance-map)")
    return matrix.astype(bool)


def read_distance_contacts(path: str, length: int, cutoff: float):
    """True contacts from an L x L distance map: pairs closer than ``cutoff`` (NaN: not a contact)."""
    import numpy as np

    if cutoff <= 0:
        raise UserError(f"--cutoff {cutoff}: must be positive (Å)")
    matrix = read_square_matrix(path, length, "--distance-map")
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(matrix, nan=np.inf) < cutoff


def load(args):
    """Per-fold results named by --input, filtered by --where (a DataFrame)."""
    from plmtransfer.analysis import stats

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
    from plmtransfer.analysis import figures, stats  # matplotlib and SciPy: after parsing, so --help is instant

    stem = Path(args.output).with_suffix("") if args.command != "all" else None
    if args.command == "contacts":
        return draw_contacts(args)
    if args.command == "forest":
        return figures.FIGURES["forest"].draw(read_contrasts(args.contrasts), stem, args.title)
    frame = load(args)
    if args.command == "heatmap":
        return figures.FIGURES["heatmap"].draw(frame, stem, args.columns, args.response)
    if args.command in figures.FIGURES:
        return figures.FIGURES[args.command].draw(frame, stem, args.response, args.method)
    sampling = stats.read_per_fold(args.sampling, args.metadata_dir) if args.sampling else None
    tables = {f"forest_{Path(path).stem.removeprefix('contrasts_')}": read_contrasts(path)
              for path in args.contrasts}
    paths, notes = figures.all_figures(frame, args.figures_dir, args.response, sampling, tables,
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
