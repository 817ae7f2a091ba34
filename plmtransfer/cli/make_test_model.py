"""Write a randomly initialised ESM-2 test model in the layout of the official checkpoints.

The weights are random: embeddings from this model carry NO biology. It exists so that tests,
benchmarks and the offline demo exercise the real loading and extraction code paths.
"""

from __future__ import annotations

import argparse
import sys

from plmtransfer.backends import random_model_writer
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli

WRITER, WRITE = random_model_writer()
ARCHITECTURES = "\n".join(
    f"  {name:<5} {layers:>2} layers, dim {dim:>4}, {heads:>2} heads  -> {WRITER.default_name(name)}.pt"
    for name, (layers, dim, heads) in WRITER.architectures.items()
)


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter,
                                     epilog="architectures (8M..650M: the exact shapes of ESM-2):\n"
                                     + ARCHITECTURES)
    parser.add_argument("--arch", choices=list(WRITER.architectures), default="tiny",
                        help="architecture to build")
    parser.add_argument("-o", "--output-dir", default="models", help="directory to write into")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same weights")
    parser.add_argument("--name", default=None,
                        help="file stem (default: esm2_t<layers>_<arch>_random); keep the 'esm2' prefix")
    return add_version(parser)


def main(argv=None) -> int:
    """Write the model and its contact-regression file; print the checkpoint's path."""
    args = create_parser().parse_args(argv)
    print(WRITE(args.output_dir, args.arch, args.seed, args.name))  # imports torch: after parsing
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
