"""Learning curves: the study's LassoCV protocol on random subsets of growing size.

For each size of --sizes (the study's sizes by default) below the number N of metadata rows, and
for N itself, draws that many metadata rows (DataFrame.sample(n, random_state=42)), joins them with
the embeddings and runs the protocol of reg_lassoCV.py; rows carry a Sample_size column.

example:
  python scripts/reg_lassoCV_sampling.py -i embeddings/DMS_compressed/esm2_150M/IF1_ECOLI/embed_layer_30_mean.pkl \\
      -m data/DMS_metadata/IF1_ECOLI_metadata.csv -o results/lassoCV_sampling/esm2_150M/IF1_ECOLI_mean.csv
"""

from __future__ import annotations

import argparse
import sys

from plmtransfer.cli import reg_lassoCV as regression_script
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import STUDY_SAMPLE_SIZES


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface (the flags of reg_lassoCV.py)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    regression_script.add_common_arguments(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(STUDY_SAMPLE_SIZES), metavar="N",
                        help="subsample sizes below the number of metadata rows (that number is always added)")
    return add_version(parser)


def main(argv=None) -> int:
    """Run the protocol at every sample size of each embedding file and write all per-fold rows."""
    parser = create_parser()
    args = parser.parse_args(argv)
    pairs = regression_script.input_output_pairs(parser, args)
    regression_script.check_inputs(args)
    from plmtransfer.learn import regress  # scikit-learn: after the checks, so errors and --help are instant

    for input_path, output in pairs:
        results = regress.run_sampling(input_path, args.metadata, regression_script.options_from(args),
                                       args.dataset, args.embedding_model,
                                       regression_script.progress_bar(args, "sample sizes"), args.sizes)
        write_dataframe_csv(results, output)
        if not args.quiet:
            print(f"{results['Sample_size'].nunique()} sample sizes -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
