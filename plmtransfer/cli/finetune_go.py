"""Fine-tune a protein language model as a GO-term function caller on CAFA 5's training data.

Reads train_sequences.fasta, train_terms.tsv (EntryID, term, aspect) and go-basic.obo from
--dataset_dir (or its Train/ folder), propagates every annotation to its ancestors (is_a,
part_of), keeps one aspect (--dataset_subset) and trains the model with a two-layer
multi-label head. Every --eval_interval epochs it reports CAFA's protein-centric Fmax on
the held-out --eval_ratio of the proteins (and the weighted Fmax with --ia_path); TensorBoard
logs go to --run_dir_path. Rank a trained model's terms with scripts/predict_rank.py.

example:
  python scripts/finetune_go.py --dataset_dir data/cafa5 --base_model facebook/esm2_t6_8M_UR50D \\
      --dataset_subset mf --checkpoint_path checkpoints/mf-8M.pt --device cpu
  tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.options import DTYPE_NAMES, GO_SUBSETS, CallerOptions, go_subset
from plmtransfer.registry import model_table_text


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface (the seed's argument names and defaults)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter,
                                     epilog=model_table_text())
    parser.add_argument("--dataset_dir", default="data/cafa5",
                        help="folder with CAFA 5's train_sequences.fasta, train_terms.tsv and go-basic.obo "
                        "(directly or under Train/)")
    parser.add_argument("--ia_path", default=None,
                        help="information accretion (CAFA 5's IA.txt: term<TAB>weight) for the weighted Fmax; "
                        "default: <dataset_dir>/IA.txt when it exists")
    parser.add_argument("--base_model", default="facebook/esm2_t6_8M_UR50D",
                        help="a Hugging Face ESM-2 name (facebook/<model> for the ESM-2 models below), this "
                        "project's model names and aliases, or a local fair-esm .pt checkpoint")
    parser.add_argument("--dataset_subset", type=go_subset, choices=GO_SUBSETS, default=CallerOptions.dataset_subset,
                        help="all, or one aspect: mf (molecular function), cc (cellular component), "
                        "bp (biological process); the namespace names (biological_process, ...) and CAFA's "
                        "codes (BPO, MFO, CCO) are accepted too")
    parser.add_argument("--num_dataset_processes", type=int, default=1,
                        help="CPU threads for torch's work on the CPU (tokenising and CPU training)")
    parser.add_argument("--context_length", type=int, default=CallerOptions.context_length,
                        help="longest input in tokens (residues + BOS + EOS); longer sequences are cut")
    parser.add_argument("--unfreeze_last_k_layers", type=int, default=0,
                        help="fine-tune the last K transformer blocks too (0: the head only)")
    parser.add_argument("--lora", type=int, default=0, metavar="R",
                        help="train rank-R LoRA adapters on the attention projections instead")
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per mini-batch")
    parser.add_argument("--gradient_accumulation_steps", type=int, default=4,
                        help="mini-batches per optimizer step")
    parser.add_argument("--max_gradient_norm", type=float, default=1.0, help="clip the gradient norm to this")
    parser.add_argument("--learning_rate", type=float, default=1e-4, help="AdamW learning rate")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout of the head")
    parser.add_argument("--num_epochs", type=int, default=20, help="epochs to train for")
    parser.add_argument("--eval_interval", type=int, default=CallerOptions.eval_interval,
                        help="evaluate every this many epochs")
    parser.add_argument("--eval_ratio", type=float, default=CallerOptions.eval_ratio,
                        help="share of the proteins held out for evaluation")
    parser.add_argument("--checkpoint_interval", type=int, default=CallerOptions.checkpoint_interval,
                        help="save a checkpoint every this many epochs")
    parser.add_argument("--checkpoint_path", default="./checkpoints/checkpoint.pt",
                        help="the training checkpoint (rewritten atomically)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from --checkpoint_path; when it does not exist yet, start a new run (and say "
                        "so), so that one command can be re-run until training is done")
    parser.add_argument("--run_dir_path", default="./runs/instruction-tune", help="TensorBoard run directory")
    parser.add_argument("--device", default="cuda",
                        help="torch device (cuda, cuda:1, mps, cpu); cuda falls back to cpu with a warning "
                        "when no GPU is present")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32",
                        help="autocast precision of the forward pass (weights stay float32)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the head, split, batch order and dropout (default: drawn at random and "
                        "recorded in the checkpoint; --resume reuses the recorded one)")
    return add_version(parser)


def pick_device(requested: str) -> str:
    """``requested``, or ``cpu`` with a warning when CUDA is asked for but absent."""
    import torch

    from plmtransfer.learn.function_caller import warn

    if requested.startswith("cuda") and not torch.cuda.is_available():
        warn(f"--device {requested}: no CUDA device here, training on the CPU")
        return "cpu"
    return requested


def pick_seed(args: argparse.Namespace) -> int:
    """The given seed, the checkpoint's when resuming without one, or a fresh random one."""
    from plmtransfer.learn.trainable import load_checkpoint

    if args.seed is not None:
        return args.seed
    if args.resume and Path(args.checkpoint_path).is_file():
        return int(load_checkpoint(args.checkpoint_path)["settings"]["seed"])
    return secrets.randbelow(2 ** 31)


def main(argv=None) -> int:
    """Train and report the last evaluation."""
    args = create_parser().parse_args(argv)
    import torch

    from plmtransfer.learn.function_caller import train
    from plmtransfer.learn.trainable import TrainSettings

    torch.set_num_threads(max(1, args.num_dataset_processes))
    settings = TrainSettings(learning_rate=args.learning_rate, batch_size=args.batch_size,
                             gradient_accumulation_steps=args.gradient_accumulation_steps,
                             max_gradient_norm=args.max_gradient_norm, dropout=args.dropout,
                             num_epochs=args.num_epochs, unfreeze_last_k_layers=args.unfreeze_last_k_layers,
                             lora=args.lora, seed=pick_seed(args), device=pick_device(args.device), dtype=args.dtype)
    options = CallerOptions(dataset_subset=args.dataset_subset, context_length=args.context_length,
                            eval_interval=args.eval_interval, eval_ratio=args.eval_ratio,
                            checkpoint_interval=args.checkpoint_interval)
    ia_path = args.ia_path
    if ia_path is None and (Path(args.dataset_dir) / "IA.txt").is_file():
        ia_path = Path(args.dataset_dir) / "IA.txt"
    train(args.dataset_dir, args.base_model, settings, options, args.checkpoint_path, args.run_dir_path,
          args.resume, ia_path)
    print(f"checkpoint: {args.checkpoint_path} (seed {settings.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
