"""Compress per-residue embeddings (fair-esm .pt files) into one vector per protein.

Reads every .pt of EMBED_DIR once (torch.load with weights_only=True) and computes all the
requested methods from it, over several processes; writes OUT_DIR/embed_layer_<L>_<method>.pkl
(a dict {label: 1-D array}, label = file name without .pt) or .npz (ids + matrix) per method.
Replaces the study's compressing_embeddings.py (-e/-c/-l/-o keep their meaning; -c takes
several methods). Outputs that exist are skipped, so an interrupted sweep resumes.

Notes on fidelity: pca*/rbf*/sigmoid* equal scikit-learn's PCA(2) / KernelPCA(2, gamma=None)
on the MinMax(-1, 1)-scaled D x L matrix (float64 arithmetic; the study ran them in float32
and left KernelPCA's solver unseeded: here a deterministic dense solver is used, equal to
KernelPCA(random_state=0) within 1e-5). The iDCT methods drop the first and last residue
before transforming, as the study's code did (kept for fidelity), and need at least n+2
residues and an embedding dimension of at least m. Float outputs are float32, iDCT int8.
The contact_* methods read the predicted contact map ('contacts', from extract with --include
contacts; the same for every layer) and no representations (plmtransfer/embed/contacts.py).

example:
  python scripts/compress.py -e embeddings/DMS/esm2_8M/IF1_ECOLI \\
      -o embeddings/DMS_compressed/esm2_8M/IF1_ECOLI -l 6 -c mean bos pca1 iDCT1
"""

from __future__ import annotations

import argparse
import os
import sys

from plmtransfer import config as study_config
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.embed.compress import compress_directory
from plmtransfer.embed.methods import check_methods, methods_help
from plmtransfer.options import FORMAT_CHOICES, CompressOptions, positive_int


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    named = study_config.load_config().get("method_lists") or {}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter,
                                     epilog=methods_help() + "\n\nnamed lists of config/study.yaml (-c NAME):\n"
                                     + "\n".join(f"  {name}: {' '.join(study_config.split_list(methods))}"
                                                  for name, methods in named.items()))
    parser.add_argument("-e", "--embed_dir", required=True,
                        help="directory of fair-esm .pt files with per-residue 'representations' "
                        "(extract with --include per_tok; bos, h_avg and fusion also need "
                        "--include bos; c_final reads 'c_final_representations', which "
                        "scripts/extract.py writes for UniRep models; contact_* read 'contacts', from "
                        "--include contacts)")
    parser.add_argument("-o", "--out_dir", required=True, help="directory for the compressed files")
    parser.add_argument("-c", "--compression_method", nargs="+", required=True, metavar="METHOD",
                        help="one or more methods, or named lists of them such as 'study' for the study's "
                        "(see below)")
    parser.add_argument("-l", "--layer", type=int, required=True,
                        help="representation layer to read (the study used the last: 6 for 8M, "
                        "12 for 35M, 30 for 150M, 33 for 650M; UniRep: 4 for unirep_64/256, 1 "
                        "for unirep_1900)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default="pkl",
                        help="output format: pickle dict {label: vector} or npz with ids + matrix")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="worker processes (none: as many as the cores this process may use)")
    parser.add_argument("--chunk-size", type=positive_int, default=32,
                        help="files per work unit; bounds memory to jobs x chunk-size tensors")
    parser.add_argument("--swe-directions", type=positive_int, default=CompressOptions.swe_directions,
                        help="swe: number K of random projection directions")
    parser.add_argument("--swe-quantiles", type=positive_int, default=CompressOptions.swe_quantiles,
                        help="swe: number Q of quantiles per direction (output K*Q values)")
    parser.add_argument("--seed", type=int, default=CompressOptions.seed,
                        help="seed of the swe directions")
    parser.add_argument("--contact-threshold", type=float, default=CompressOptions.contact_threshold,
                        help="contact_order, contact_bands: a pair is a predicted contact when its probability "
                        "is above this (in [0, 1))")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute methods whose output file already exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or skip messages")
    return add_version(parser)


def expand_methods(names: list[str]) -> list[str]:
    """Replace a named list of config/study.yaml (``study``: the study's methods) by its methods; validate."""
    return check_methods(study_config.method_list(names, study_config.load_config()))


def main(argv=None) -> int:
    """Parse the flags, compress the directory, print the files written."""
    args = create_parser().parse_args(argv)
    options = CompressOptions(swe_directions=args.swe_directions,
                              swe_quantiles=args.swe_quantiles, seed=args.seed,
                              contact_threshold=args.contact_threshold)
    written = compress_directory(
        args.embed_dir, args.out_dir, expand_methods(args.compression_method), args.layer,
        file_format=args.format, jobs=args.jobs or available_cores(), chunk_size=args.chunk_size, options=options,
        overwrite=args.overwrite, quiet=args.quiet)
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
