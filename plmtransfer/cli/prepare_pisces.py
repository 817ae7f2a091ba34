"""Prepare the PISCES arm: filter culled chains and write one ID,target CSV per target."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer import layout
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data.pisces import (
    LEHNINGER_PK,
    MAX_LENGTH,
    MIN_LENGTH,
    compute_targets,
    dssp_states,
    read_state_files,
    select_chains,
)
from plmtransfer.data.sequences import read_fasta, write_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import positive_int

MIRROR_FILES = {"sequences": "ss3_sequences.fasta.gz", "labels": "ss3_sampled.fasta.gz",
                "mask": "ss3_mask.fasta.gz"}

CHAINS = layout.fasta_path(layout.PISCES, layout.pisces_unit(MIN_LENGTH, MAX_LENGTH), "").as_posix()
EPILOG = f"""\
outputs (under --out-dir):
  {CHAINS}    the kept chains (header = chain id)
  PISCES_metadata/<target>.csv       ID,target for each target below
  PISCES/targets_summary.csv         count, mean, sd, min, quartiles, max per target

targets: PCP_length, PCP_mW_kDa, PCP_Isoelectric_point, PCP_Charge (net charge at pH 7),
  PCP_Hydrophobicity (mean Kyte-Doolittle), PCP_Instability_index, PCP_AAfreq_<Ala..Tyr>
  (fraction 0-1, all 20; the study analysed Ala, Cys, Leu), and SS_H, SS_E, SS_Coil
  (fractions over resolved residues) when labels or structures are given.
  pI and charge use the Lehninger pK scale {LEHNINGER_PK};
  weight, hydropathy and instability come from Biopython's ProtParam.

chains kept: {MIN_LENGTH}-{MAX_LENGTH} residues (ESM-2's window) and only the 20 standard amino
  acids: chains with X, U (selenocysteine), O (pyrrolysine), B or Z are dropped and counted.

examples:
  python scripts/prepare_pisces.py --mirror ../shared/data/pisces
  python scripts/prepare_pisces.py --sequences cullpdb.fasta --structures-dir pdb/
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--mirror", type=Path, default=None,
                        help="directory with the FLIP/NetSurfP files " + ", ".join(MIRROR_FILES.values())
                        + " (e.g. ../shared/data/pisces); sets the three options below")
    parser.add_argument("--sequences", type=Path, default=None,
                        help="FASTA of PISCES-culled chains (may be .gz); header = chain id")
    parser.add_argument("--labels", type=Path, default=None,
                        help="FASTA of per-residue 3-state labels H/E/C, same ids and lengths")
    parser.add_argument("--mask", type=Path, default=None,
                        help="FASTA of per-residue 1 (resolved) / 0 (unresolved) flags for --labels")
    parser.add_argument("--structures-dir", type=Path, default=None,
                        help="run DSSP (mkdssp) on <dir>/<pdbid>.(cif|pdb) for chains named "
                        "<pdbid>-<chain> instead of reading --labels")
    parser.add_argument("--min-length", type=int, default=MIN_LENGTH, help="shortest chain kept")
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH, help="longest chain kept")
    parser.add_argument("--max-chains", type=positive_int, default=None, metavar="N",
                        help="keep at most N of the filtered chains, drawn at random with --seed (in file "
                             "order); default: all")
    parser.add_argument("--seed", type=int, default=0, help="random seed of --max-chains")
    parser.add_argument("--out-dir", type=Path, default=Path("data"),
                        help="writes PISCES/ and PISCES_metadata/ here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return add_version(parser)


def resolve_inputs(args: argparse.Namespace) -> None:
    """Fill --sequences/--labels/--mask from --mirror and check that the sequences are given."""
    if args.mirror is not None:
        for option, name in MIRROR_FILES.items():
            if getattr(args, option) is None:
                setattr(args, option, args.mirror / name)
    if args.sequences is None:
        raise UserError("no input: give --mirror DIR or --sequences FASTA")
    if args.labels is not None and args.structures_dir is not None:
        raise UserError("give either --labels (with --mask) or --structures-dir, not both")


def structure_states(chains, structures_dir: Path) -> dict[str, str]:
    """Run DSSP for each chain ``<pdbid>-<chain>`` on ``structures_dir/<pdbid>.*``."""
    states = {}
    for chain in chains:
        pdb_id, _, chain_name = chain.label.partition("-")
        candidates = [structures_dir / f"{pdb_id}{suffix}" for suffix in (".cif", ".pdb", ".ent")]
        found = next((path for path in candidates if path.is_file()), None)
        if found is not None:
            states[chain.label] = dssp_states(found, chain_name or None)
    return states


def subsample_chains(selection, max_chains: int | None, seed: int) -> None:
    """Keep at most ``max_chains`` of the selected chains, drawn with ``seed``, in file order.

    The chains left out are counted among the dropped ones, so the summary says so.
    """
    if max_chains is None or len(selection.kept) <= max_chains:
        return
    import numpy as np

    keep = np.sort(np.random.default_rng(seed).choice(len(selection.kept), size=max_chains, replace=False))
    left_out = len(selection.kept) - max_chains
    selection.kept = [selection.kept[i] for i in keep]
    selection.dropped[f"not drawn by --max-chains {max_chains} --seed {seed}"] += left_out


def summarise(targets: dict[str, dict[str, float]]):
    """One row per target: count, mean, sd, min, quartiles, max."""
    import pandas as pd

    rows = {name: pd.Series(values, dtype=float).describe() for name, values in targets.items()}
    return pd.DataFrame(rows).T.rename_axis("target").reset_index()


def main(argv=None) -> int:
    """Filter the chains, compute the targets, write the FASTA, the CSVs and the summary."""
    args = create_parser().parse_args(argv)
    import pandas as pd  # after parsing, so --help is instant

    resolve_inputs(args)
    selection = select_chains(read_fasta(args.sequences), args.min_length, args.max_length)
    if not selection.kept:
        raise UserError(f"{args.sequences}: no chain of {args.min_length}-{args.max_length} "
                        "standard residues")
    total = len(selection.kept) + sum(selection.dropped.values())
    subsample_chains(selection, args.max_chains, args.seed)
    if args.structures_dir is not None:
        states = structure_states(selection.kept, args.structures_dir)
    elif args.labels is not None:
        states = read_state_files(args.labels, args.mask)
    else:
        states = None
    targets, missing = compute_targets(selection.kept, states, progress=not args.quiet)
    fasta = write_fasta(selection.kept, layout.fasta_path(layout.PISCES, layout.pisces_unit(args.min_length,
                                                                                            args.max_length),
                                                          args.out_dir))
    for name, values in targets.items():
        frame = pd.DataFrame({"ID": list(values), "target": list(values.values())})
        write_dataframe_csv(frame, layout.metadata_path(layout.PISCES, name, args.out_dir))
    summary = write_dataframe_csv(summarise(targets), layout.pisces_summary_path(args.out_dir))
    print(f"{len(selection.kept)} of {total} chains kept -> {fasta}")
    for reason, count in sorted(selection.dropped.items()):
        print(f"  dropped {count}: {reason}")
    for reason, count in sorted(missing.items()):
        print(f"  no SS_* targets for {count} chain(s): {reason}")
    print(f"{len(targets)} target files -> {layout.metadata_dir(layout.PISCES, args.out_dir)}; summary -> {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
