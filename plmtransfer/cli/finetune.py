"""Fine-tune a protein language model with a regression head on one assay, in the study's folds.

The outer folds are those of scripts/reg_lassoCV.py for the same metadata, --cv and --fold-column
(same test IDs per fold); inside each training part a validation share drives early stopping. Writes the
regression stage's per-fold CSV (Model = finetune-<mode>: head, last<K>, full or lora<R>), so
scripts/stats.py compares it with the frozen-embedding results. Checkpoints: one file per fold,
rewritten atomically after every epoch; --resume continues a killed run exactly.

example:
  python scripts/finetune.py -m data/DMS_metadata/IF1_ECOLI_metadata.csv --base_model esm2_8M \\
      --lora 8 -o results/lassoCV/DMS/esm2_8M/IF1_ECOLI_finetune-lora8.csv --dataset IF1_ECOLI
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.cli.reg_lassoCV import add_fold_column_argument
from plmtransfer.options import CV_SCHEMES, DTYPE_NAMES
from plmtransfer.registry import model_table_text


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter,
                                     epilog=model_table_text())
    parser.add_argument("-m", "--metadata", required=True,
                        help="metadata CSV with ID, target and sequence (or give --fasta)")
    parser.add_argument("--fasta", default=None, help="sequences by ID, when the metadata has no sequence column")
    parser.add_argument("-o", "--output", required=True, help="per-fold results CSV")
    parser.add_argument("--base_model", default="esm2_8M",
                        help="registry name, alias, Hugging Face name (facebook/esm2_t6_8M_UR50D) or local "
                        "fair-esm .pt checkpoint")
    parser.add_argument("--cv", choices=CV_SCHEMES, default="random",
                        help="outer CV scheme, as in reg_lassoCV.py")
    add_fold_column_argument(parser)
    parser.add_argument("--unfreeze_last_k_layers", type=int, default=0,
                        help="train the last K transformer blocks too (0: the head only; K >= the number of "
                        "layers: every weight)")
    parser.add_argument("--lora", type=int, default=0, metavar="R",
                        help="train rank-R LoRA adapters on the attention projections (frozen encoder)")
    parser.add_argument("--learning_rate", type=float, default=1e-4, help="AdamW learning rate")
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per mini-batch")
    parser.add_argument("--gradient_accumulation_steps", type=int, default=1,
                        help="mini-batches per optimizer step")
    parser.add_argument("--max_gradient_norm", type=float, default=1.0, help="clip the gradient norm to this")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout of the head")
    parser.add_argument("--num_epochs", type=int, default=20, help="most epochs per fold")
    parser.add_argument("--patience", type=int, default=3,
                        help="stop a fold after this many epochs without a better validation MSE")
    parser.add_argument("--validation_fraction", type=float, default=0.1,
                        help="share of each outer training part held out for early stopping")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the head, LoRA, batch order, dropout and validation rows (the outer "
                        "folds are the regression stage's, seed 42)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, mps)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32",
                        help="autocast precision of the forward pass (weights stay float32)")
    parser.add_argument("--checkpoint_dir", default=None,
                        help="fold checkpoints (default: <output without .csv>_checkpoints)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse finished folds and continue an unfinished one from its last epoch")
    parser.add_argument("--predictions", default=None, help="also write test predictions (ID, Fold, target, "
                        "prediction) to this CSV")
    parser.add_argument("--dataset", default=None, help="fill a Dataset column with this name")
    parser.add_argument("--embedding-model", default=None,
                        help="Embedding_model column (default: the base model's registry name or file stem)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return add_version(parser)


def settings_from(args: argparse.Namespace):
    """The training settings (:class:`plmtransfer.learn.trainable.TrainSettings`) of parsed arguments."""
    from plmtransfer.learn.trainable import TrainSettings

    return TrainSettings(learning_rate=args.learning_rate, batch_size=args.batch_size,
                         gradient_accumulation_steps=args.gradient_accumulation_steps,
                         max_gradient_norm=args.max_gradient_norm, dropout=args.dropout,
                         num_epochs=args.num_epochs, unfreeze_last_k_layers=args.unfreeze_last_k_layers,
                         lora=args.lora, seed=args.seed, device=args.device, dtype=args.dtype)


def main(argv=None) -> int:
    """Fine-tune in every outer fold and write the per-fold results."""
    args = create_parser().parse_args(argv)
    from tqdm import tqdm

    from plmtransfer.io import write_dataframe_csv
    from plmtransfer.learn import finetune

    output = Path(args.output)
    checkpoint_dir = Path(args.checkpoint_dir or output.with_name(f"{output.stem}_checkpoints"))
    plan = finetune.FoldPlan(cv=args.cv, validation_fraction=args.validation_fraction, patience=args.patience,
                             fold_column=args.fold_column)
    progress = None if args.quiet else (lambda folds: tqdm(folds, desc="outer folds", unit="fold"))
    results, predictions = finetune.run(args.metadata, args.base_model, settings_from(args), plan,
                                        checkpoint_dir, args.resume, args.fasta, args.dataset,
                                        args.embedding_model, progress)
    write_dataframe_csv(results, output)
    if args.predictions:
        write_dataframe_csv(predictions, args.predictions)
    if not args.quiet:
        print(f"{results['Model'].iloc[0]}: mean test R2 {results['R2_score_test'].mean():.3f}, rho "
              f"{results['rho_score_test'].mean():.3f} -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
