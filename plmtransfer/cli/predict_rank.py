"""Rank the GO terms a fine-tuned function caller predicts for protein sequences.

Interactive: prompts for a sequence and prints the --top_k terms as 'probability: term name'
lines (e.g. '0.9731: GO:0003824 catalytic activity'), most probable first; an empty line or
Ctrl-D ends. With --fasta: ranks every record
and writes a CSV (ID, rank, term, name, probability) to --output (or stdout).

Probabilities are made consistent with the ontology: a term is never below its descendants.

examples:
  python scripts/predict_rank.py --checkpoint_path checkpoints/mf-8M.pt --top_k 10
  python scripts/predict_rank.py --checkpoint_path checkpoints/mf-8M.pt --fasta query.fasta -o ranks.csv
"""

from __future__ import annotations

import argparse
import sys

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data.sequences import check_sequence, read_fasta
from plmtransfer.errors import UserError


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--checkpoint_path", default="./checkpoints/checkpoint.pt",
                        help="checkpoint written by scripts/finetune_go.py")
    parser.add_argument("--base_model", default=None,
                        help="where to read the base model's weights (default: as recorded in the checkpoint); "
                        "must be the model the checkpoint was trained from")
    parser.add_argument("--top_k", type=int, default=10, help="how many terms to print per sequence")
    parser.add_argument("--fasta", default=None, help="rank every sequence of this FASTA file")
    parser.add_argument("-o", "--output", default=None, help="CSV of the --fasta ranking (default: stdout)")
    parser.add_argument("--context_length", type=int, default=None,
                        help="longest input in tokens (residues + BOS + EOS); default: the checkpoint's")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, mps)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed torch's and Python's random generators first (as the original caller's "
                        "predict_rank.py; the ranking itself has no randomness)")
    return add_version(parser)


def format_ranking(ranking) -> str:
    """A header and ``probability: GO id name`` lines (the seed's format, with the term's name)."""
    lines = [f"Top {len(ranking)} GO terms:"]
    lines += [f"{probability:.4f}: {term} {name}" for probability, term, name in ranking]
    return "\n".join(lines)


def interactive(caller, top_k: int) -> None:
    """Prompt for sequences until an empty line or end of input."""
    from plmtransfer.learn.function_caller import rank

    while True:
        try:
            line = input("Enter a sequence: ").strip()
        except EOFError:
            return
        if not line:
            return
        try:
            sequence = check_sequence(line, "sequence")
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        print(format_ranking(rank(caller, [sequence], top_k)[0]))


def main(argv=None) -> int:
    """Load the checkpoint, then rank interactively or a FASTA file."""
    args = create_parser().parse_args(argv)
    import pandas as pd

    from plmtransfer.io import write_dataframe_csv
    from plmtransfer.learn.function_caller import load_caller, rank

    if args.seed is not None:
        import random

        import torch

        random.seed(args.seed)
        torch.manual_seed(args.seed)
    caller = load_caller(args.checkpoint_path, args.base_model, args.device)
    if args.context_length is not None:
        caller.context_length = args.context_length
    if args.fasta is None:
        print("Checkpoint loaded successfully", file=sys.stderr)
        interactive(caller, args.top_k)
        return 0
    records = read_fasta(args.fasta)
    rankings = rank(caller, [record.sequence for record in records], args.top_k, args.fasta)
    rows = [{"ID": record.label.split()[0], "rank": position, "term": term, "name": name, "probability": probability}
            for record, ranking in zip(records, rankings, strict=True)
            for position, (probability, term, name) in enumerate(ranking, start=1)]
    frame = pd.DataFrame(rows, columns=["ID", "rank", "term", "name", "probability"])
    if args.output:
        write_dataframe_csv(frame, args.output)
    else:
        frame.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
