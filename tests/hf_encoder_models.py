"""Tiny random transformers encoders built locally (no download), in the layout of the published checkpoints.

Each writes ``config.json``, the weights and a tokenizer with the published vocabulary's residue tokens:
``protbert`` (BertModel, ProtBert's 30-token ``vocab.txt``), ``prott5`` (T5EncoderModel, a SentencePiece
vocabulary of word pieces ``▁A`` as ProtT5's, ``</s>`` after the residues), ``ankh`` (T5EncoderModel,
one-letter tokens read as words, ``</s>`` after the residues). The weights are random: no biology.
"""

from __future__ import annotations

from pathlib import Path

# ProtBert's vocab.txt (Rostlab/prot_bert): five special tokens, then the residues in this order.
PROTBERT_VOCAB = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"LAGVESIKRDTPNQFYMHCWXUBZO")
LETTERS = "ALGVSREDTIPKFQNYMHWCXBZUO"
T5_SPECIALS = ("<pad>", "</s>", "<unk>")


def write_protbert(directory: Path, seed: int = 0, layers: int = 2) -> Path:
    """A random BertModel (width 32) with ProtBert's vocabulary and BertTokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(PROTBERT_VOCAB) + "\n")
    BertTokenizer(str(directory / "vocab.txt"), do_lower_case=False).save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(PROTBERT_VOCAB), hidden_size=32, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory


def t5_config(vocab_size: int, layers: int):
    """A tiny T5 encoder configuration (width 32, 4 heads, gated GELU as Ankh; ReLU makes no difference here)."""
    from transformers import T5Config

    return T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_heads=4, num_layers=layers,
                    dropout_rate=0.0, feed_forward_proj="gated-gelu", is_encoder_decoder=False)


def write_prott5(directory: Path, seed: int = 0, layers: int = 2) -> Path:
    """A random T5EncoderModel with a SentencePiece (Unigram) tokenizer of ProtT5's kind: ``▁A`` ... pieces."""
    import torch
    from transformers import T5EncoderModel, T5Tokenizer

    vocabulary = [(token, 0.0) for token in T5_SPECIALS] + [
        (f"\u2581{letter}", -1.0 - index) for index, letter in enumerate(LETTERS)]
    T5Tokenizer(vocab=vocabulary, extra_ids=0).save_pretrained(directory)
    torch.manual_seed(seed)
    T5EncoderModel(t5_config(len(vocabulary), layers)).save_pretrained(directory)
    return directory


def write_ankh(directory: Path, seed: int = 0, layers: int = 2) -> Path:
    """A random T5EncoderModel whose tokenizer reads one-letter words (Ankh's input form), ``</s>`` last."""
    import torch
    from tokenizers import Tokenizer, models, processors
    from transformers import PreTrainedTokenizerFast, T5EncoderModel

    vocabulary = {token: index for index, token in enumerate((*T5_SPECIALS, *LETTERS))}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(directory)
    torch.manual_seed(seed)
    T5EncoderModel(t5_config(len(vocabulary), layers)).save_pretrained(directory)
    return directory


WRITERS = {"protbert": write_protbert, "prott5": write_prott5, "ankh": write_ankh}
