"""Any transformers protein encoder that is not ESM: T5 encoders (ProtT5, Ankh), BERT (ProtBert), any ``AutoModel``.

The model is read from a Hugging Face directory (:func:`~plmtransfer.backends.hf.featuriser.resolve_directory`:
a local directory, or a hub name in the cache) with its own tokenizer (``AutoTokenizer``; the
architecture's tokenizer class when ``config.json`` names no type). T5 checkpoints load as
``T5EncoderModel`` (a full T5's decoder weights are not read); other encoder-decoder models run their
encoder; everything else runs as ``AutoModel``.

**Tokens.** Each family's authors' rule (:data:`~plmtransfer.backends.hf.TOKENISATION`): ProtT5 and
ProtBert read residues separated by spaces, with ``U Z O B`` replaced by ``X``; Ankh reads the list of
residues as words (``is_split_into_words``). A directory outside the registry is tokenised as its
tokenizer's vocabulary says: BERT as ProtBert; T5 as ProtT5 when the vocabulary has SentencePiece
word pieces for residues (``▁A``), else as Ankh; any other model as Ankh. The residues' positions
come from the tokenizer's own word ids: every residue must be exactly one token (else one error
line), and the special tokens (BERT's ``[CLS]``/``[SEP]``, T5's ``</s>``) are cut away, so
``representations`` hold one row per residue.

**BOS.** A model whose tokenizer puts a special token before the first residue (BERT's ``[CLS]``)
has a BOS vector: that token's row. T5 encoders put none (only ``</s>`` after the residues), so they
have no BOS (``has_bos`` False), and asking for ``--include bos`` or a method that needs it is a
one-line error of the extraction stage.

**Layers** are fair-esm's numbering through ``output_hidden_states``: 0 is the embedding output,
``i`` the output of block ``i``, and the last one is ``last_hidden_state`` (for T5 after the
encoder's final layer norm, as fair-esm's last layer is after its final norm).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from plmtransfer.backends.base import Embedded
from plmtransfer.backends.hf import TOKENISATION, Tokenisation
from plmtransfer.backends.hf.featuriser import quiet_from_pretrained
from plmtransfer.data.sequences import EXTRA_LETTERS, STANDARD_AMINO_ACIDS
from plmtransfer.errors import UserError
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH
from plmtransfer.registry import ModelSpec

RESIDUE_WORDS = Tokenisation("", spaced=False)  # residues as words, no letter mapped: any other tokenizer
SENTENCEPIECE_MODEL = "spiece.model"  # a SentencePiece tokenizer file (ProtT5, Ankh)
SENTENCEPIECE_WORD = "\u2581"  # "▁": SentencePiece's mark of a word start (ProtT5's residue pieces)
TOKENIZER_CLASSES = {"t5": "T5Tokenizer", "bert": "BertTokenizer"}  # for directories whose config names no type


def read_config(directory: Path) -> dict:
    """``config.json`` of a Hugging Face directory as a dict (one error line when unreadable)."""
    try:
        return json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{directory}: cannot read config.json ({error})") from None


def model_type(directory: Path, spec: ModelSpec | None) -> str:
    """transformers' ``model_type`` of the model: from ``config.json``, else from the registry family's
    architecture (ProtBert's ``config.json`` states none), else empty."""
    stated = read_config(directory).get("model_type", "")
    if stated or spec is None or spec.family not in TOKENISATION:
        return stated
    return TOKENISATION[spec.family].architecture


def load_config(directory: Path, architecture: str):
    """The model's transformers config (``architecture``'s config class when ``config.json`` names no type)."""
    from transformers import CONFIG_MAPPING, AutoConfig

    try:
        if architecture and "model_type" not in read_config(directory):
            return CONFIG_MAPPING[architecture].from_pretrained(directory)
        return AutoConfig.from_pretrained(directory)
    except (ValueError, KeyError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{directory}: transformers cannot read this model's config.json ({first_line})") from None


def needs_sentencepiece(directory: Path) -> bool:
    """True when the tokenizer can only be read from a SentencePiece model (``spiece.model`` and no
    ``tokenizer.json``: ProtT5's hub layout), which transformers converts with the ``sentencepiece`` package."""
    return (directory / SENTENCEPIECE_MODEL).is_file() and not (directory / "tokenizer.json").is_file()


def load_tokenizer(directory: Path, architecture: str):
    """The directory's own tokenizer (one error line when its files are missing or unreadable, or when it is a
    SentencePiece model and ``sentencepiece`` is not installed: transformers' own message then names tiktoken)."""
    import transformers

    if needs_sentencepiece(directory) and importlib.util.find_spec("sentencepiece") is None:
        raise UserError(f"{directory}: the model's tokenizer is a SentencePiece model ({SENTENCEPIECE_MODEL}), "
                        "which needs the sentencepiece package: pip install sentencepiece (pinned in "
                        "requirements.txt)")
    try:
        if architecture in TOKENIZER_CLASSES and "model_type" not in read_config(directory):
            return getattr(transformers, TOKENIZER_CLASSES[architecture]).from_pretrained(directory)
        return transformers.AutoTokenizer.from_pretrained(directory)
    except Exception as error:  # transformers raises many types for missing or unreadable tokenizer files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{directory}: cannot load the model's tokenizer ({first_line}); the directory needs "
                        "the tokenizer files of its hub repository (vocab.txt, spiece.model or "
                        "tokenizer.json, tokenizer_config.json)") from None


def tokenisation_of(spec: ModelSpec | None, architecture: str, tokenizer) -> Tokenisation:
    """The registry family's rule, else the rule the architecture and vocabulary point to."""
    if spec is not None and spec.family in TOKENISATION:
        return TOKENISATION[spec.family]
    if architecture == "bert":
        return TOKENISATION["protbert"]
    if architecture == "t5":
        spaced = f"{SENTENCEPIECE_WORD}A" in tokenizer.get_vocab()
        return TOKENISATION["prott5"] if spaced else TOKENISATION["ankh"]
    return RESIDUE_WORDS


def family_of(spec: ModelSpec | None, tokenisation: Tokenisation, architecture: str) -> str:
    """The registry family, else the family whose tokenisation was chosen, else the architecture."""
    if spec is not None:
        return spec.family
    return next((name for name, rule in TOKENISATION.items() if rule == tokenisation
                 and rule.architecture == architecture), architecture or "hf")


class HfEncoderFeaturiser:
    """A transformers encoder on a device, with its authors' tokens and fair-esm's layer numbering."""

    has_contacts = False
    toks_per_batch = DEFAULT_TOKS_PER_BATCH
    extras = ()

    def __init__(self, directory: Path, spec: ModelSpec | None, device: torch.device, dtype: torch.dtype):
        architecture = model_type(directory, spec)
        config = load_config(directory, architecture)
        self.tokenizer = load_tokenizer(directory, architecture)
        self.model = load_model(directory, config, dtype).to(device).eval()
        self.tokenisation = tokenisation_of(spec, architecture, self.tokenizer)
        self.to_x = re.compile(f"[{self.tokenisation.to_x}]") if self.tokenisation.to_x else None
        self.name = spec.name if spec is not None else directory.name
        self.family = family_of(spec, self.tokenisation, architecture)
        self.identity = str(directory.resolve())
        self.num_layers = config.num_hidden_layers
        self.embed_dim = config.hidden_size
        self.special_positions = self.tokenizer.num_special_tokens_to_add()
        self.has_bos = self.starts_with_special_token()
        positions = getattr(config, "max_position_embeddings", None)  # absolute positions limit the length
        self.max_residues = positions - self.special_positions if positions else None
        self.alphabet = self.letters_read_as_themselves()
        self.unusual_letters = (f"{' '.join(self.tokenisation.to_x)} are read as X (the authors' rule); "
                                "X is its own token" if self.tokenisation.to_x
                                else "X B Z U O go to the tokenizer as they are (its unknown token if absent)")
        self.device = device

    def layer_dim(self, layer: int) -> int:
        """Every layer of a transformer encoder has the model's width."""
        return self.embed_dim

    def letters_read_as_themselves(self) -> str:
        """The accepted letters (not mapped to X) that the tokenizer makes a token of their own (not unknown)."""
        letters = [letter for letter in STANDARD_AMINO_ACIDS + EXTRA_LETTERS if letter not in self.tokenisation.to_x]
        batch = self.encode(letters)
        unknown = self.tokenizer.unk_token_id
        return "".join(sorted(letter for row, letter in enumerate(letters)
                              if batch["input_ids"][row, self.residue_positions(batch, row, letter)[0]] != unknown))

    def starts_with_special_token(self) -> bool:
        """True when the tokenizer puts a special token before the first residue (BERT's [CLS])."""
        return self.encode(["A"]).word_ids(0)[0] is None

    def encode(self, sequences: Sequence[str]):
        """The tokenizer's padded batch for ``sequences``, in the authors' input form."""
        residues = [self.to_x.sub("X", sequence) if self.to_x else sequence for sequence in sequences]
        if self.tokenisation.spaced:
            return self.tokenizer([" ".join(sequence) for sequence in residues], padding=True,
                                  add_special_tokens=True, return_tensors="pt")
        return self.tokenizer([list(sequence) for sequence in residues], is_split_into_words=True, padding=True,
                              add_special_tokens=True, return_tensors="pt")

    def residue_positions(self, batch, row: int, sequence: str) -> list[int]:
        """The token position of each residue of ``sequence`` (row ``row`` of ``batch``): one token each."""
        positions: list[list[int]] = [[] for _ in sequence]
        for position, word in enumerate(batch.word_ids(row)):
            if word is not None:
                positions[word].append(position)
        bad = next((index for index, found in enumerate(positions) if len(found) != 1), None)
        if bad is not None:
            raise UserError(f"model {self.name}: its tokenizer makes {len(positions[bad])} tokens of residue "
                            f"{bad + 1} ({sequence[bad]!r}) of {sequence[:20]}...; this backend needs one token "
                            "per residue")
        return [found[0] for found in positions]

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool) -> list[Embedded]:
        """Forward one batch with the attention mask; return per-sequence float32 CPU rows (residues only)."""
        batch = self.encode(sequences)
        with torch.inference_mode():
            output = self.model(input_ids=batch["input_ids"].to(self.device),
                                attention_mask=batch["attention_mask"].to(self.device), output_hidden_states=True)
        hidden = {layer: output.hidden_states[layer].float().cpu() for layer in layers}
        results = []
        for row, sequence in enumerate(sequences):
            rows = torch.tensor(self.residue_positions(batch, row, sequence))
            bos = {layer: tensor[row, rows[0] - 1].clone() for layer, tensor in hidden.items()} \
                if self.has_bos else None
            results.append(Embedded({layer: tensor[row, rows].clone() for layer, tensor in hidden.items()}, bos))
        return results


def load_model(directory: Path, config, dtype: torch.dtype):
    """The encoder: ``T5EncoderModel`` for T5, the encoder of another encoder-decoder, else ``AutoModel``."""
    from transformers import AutoModel, T5EncoderModel

    model_class = T5EncoderModel if config.model_type == "t5" else AutoModel
    model, _ = quiet_from_pretrained(model_class, directory, config=config, dtype=dtype)
    if getattr(config, "is_encoder_decoder", False) and config.model_type != "t5":
        model = model.get_encoder()
    return model
