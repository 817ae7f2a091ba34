"""ProtT5's published tokenizer layout: a SentencePiece model (``spiece.model``) and no ``tokenizer.json``.

A SentencePiece model is trained here on protein-like sentences (residues separated by spaces, as ProtT5
reads them) and laid out beside a tiny random ``T5EncoderModel`` as ProtT5's hub repository is:
``config.json``, weights, ``spiece.model``, ``tokenizer_config.json`` naming ``T5Tokenizer``. transformers
converts the SentencePiece model with the ``sentencepiece`` package; without it the backend says so in
one line. The reference ids come from ``sentencepiece`` itself, not from transformers' tokenizer.

(Ankh's rule, residues as words with no spaces, is not exercised here: transformers' ``T5Tokenizer`` built
from a ``spiece.model`` puts ``▁`` before every word, so a vocabulary of bare letters gives two tokens per
residue; Ankh's hub repositories are read through their ``tokenizer.json``, tests/test_hf_encoders.py.)
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from plmtransfer.backends import load_featuriser  # noqa: E402
from plmtransfer.backends.base import LoadOptions  # noqa: E402
from plmtransfer.errors import UserError  # noqa: E402
from tests.hf_encoder_models import t5_config  # noqa: E402
from tests.test_hf import fake_hub_cache  # noqa: E402

CORPUS_LETTERS = "ACDEFGHIKLMNPQRSTVWYX"  # the 20 standard residues and X: U Z O B never reach ProtT5's tokenizer
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MKUZOBAXW", "MSHHW"]  # the second has every rare residue
RARE = str.maketrans({letter: "X" for letter in "UZOB"})
TOLERANCE = 1e-6  # a padded batch changes float32 sums in the last bits
PAD, EOS, UNK = 0, 1, 2  # T5's special ids (ProtT5: <pad> 0, </s> 1, <unk> 2; no BOS)


def write_sentencepiece_prott5(directory: Path, seed: int = 0, layers: int = 2) -> Path:
    """ProtT5's hub layout with a SentencePiece (unigram) model trained here and a random T5 encoder."""
    import sentencepiece
    from transformers import T5EncoderModel

    rng = random.Random(seed)
    corpus = [" ".join(rng.choice(CORPUS_LETTERS) for _ in range(rng.randint(20, 60))) for _ in range(300)]
    directory.mkdir(parents=True)
    # 46 pieces: 3 specials, "▁" + each letter (one piece per residue), each bare letter and "▁" itself
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(directory / "spiece"), model_type="unigram",
        vocab_size=3 + 2 * len(CORPUS_LETTERS) + 1, pad_id=PAD, eos_id=EOS, unk_id=UNK, bos_id=-1,
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    (directory / "spiece.vocab").unlink()
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 0}))
    torch.manual_seed(seed)
    size = sentencepiece.SentencePieceProcessor(model_file=str(directory / "spiece.model")).get_piece_size()
    T5EncoderModel(t5_config(size, layers)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def prott5_dir(tmp_path_factory) -> Path:
    """The SentencePiece ProtT5 directory (skipped when sentencepiece is not installed)."""
    pytest.importorskip("sentencepiece", reason="sentencepiece is not installed (requirements.txt pins it)")
    return write_sentencepiece_prott5(tmp_path_factory.mktemp("spiece") / "tiny_prott5")


def reference_forward(directory: Path, sequence: str) -> dict[int, torch.Tensor]:
    """transformers' T5 encoder alone on the ids that ``sentencepiece`` gives the spaced residues (U Z O B as X)."""
    import sentencepiece
    from transformers import T5EncoderModel

    processor = sentencepiece.SentencePieceProcessor(model_file=str(directory / "spiece.model"))
    pieces = processor.encode(" ".join(sequence.translate(RARE)), out_type=str)
    assert pieces == [f"\u2581{letter}" for letter in sequence.translate(RARE)]  # one piece per residue
    ids = [*processor.encode(" ".join(sequence.translate(RARE))), EOS]
    model = T5EncoderModel.from_pretrained(directory).eval()
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    return {layer: states[0, :len(sequence)] for layer, states in enumerate(hidden)}


def assert_vectors_equal_reference(featuriser, directory: Path) -> None:
    """Every layer of every sequence, embedded in one padded batch, equals the reference forward."""
    for sequence, embedded in zip(SEQUENCES, featuriser.embed(SEQUENCES, [0, 1, 2], False), strict=True):
        rows = reference_forward(directory, sequence)
        for layer in (0, 1, 2):
            assert embedded.representations[layer].shape == (len(sequence), 32)
            torch.testing.assert_close(embedded.representations[layer], rows[layer], rtol=TOLERANCE,
                                       atol=TOLERANCE)
        assert embedded.bos is None


def test_a_sentencepiece_directory_reads_as_prott5(prott5_dir, one_torch_thread):
    """No tokenizer.json: the spiece.model is read; its ▁ pieces make it ProtT5's rule (spaces, U Z O B as X)."""
    assert not (prott5_dir / "tokenizer.json").exists()
    featuriser = load_featuriser(str(prott5_dir), LoadOptions(nogpu=True))
    assert (featuriser.family, featuriser.num_layers, featuriser.embed_dim) == ("prott5", 2, 32)
    assert (featuriser.has_bos, featuriser.special_positions) == (False, 1)
    assert type(featuriser.tokenizer).__name__ == "T5Tokenizer"
    assert_vectors_equal_reference(featuriser, prott5_dir)
    rare, plain = featuriser.embed(["MKUZOBAXW", "MKXXXXAXW"], [2], False)
    torch.testing.assert_close(rare.representations[2], plain.representations[2], rtol=0, atol=TOLERANCE)


def test_the_registry_name_reads_the_published_layout_from_the_cache(prott5_dir, tmp_path, monkeypatch,
                                                                      one_torch_thread):
    """Rostlab/prot_t5_xl_uniref50 in the hub cache, in its published file layout, reads offline."""
    fake_hub_cache(tmp_path / "hub", "Rostlab/prot_t5_xl_uniref50", prott5_dir)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    featuriser = load_featuriser("Rostlab/prot_t5_xl_uniref50", LoadOptions(nogpu=True))
    assert (featuriser.name, featuriser.family) == ("prot_t5_xl_uniref50", "prott5")
    assert_vectors_equal_reference(featuriser, prott5_dir)


def test_missing_sentencepiece_is_one_line_naming_the_package(tmp_path, monkeypatch):
    """Without the package, a spiece.model-only directory is one error line saying what to install."""
    from tests.hf_encoder_models import write_ankh

    directory = write_ankh(tmp_path / "model")  # any T5 directory; its tokenizer.json is replaced by a spiece.model
    (directory / "tokenizer.json").unlink()
    (directory / "spiece.model").write_bytes(b"not read: the check comes first")
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # `import sentencepiece` now fails
    with pytest.raises(UserError, match=r"spiece\.model.*pip install sentencepiece") as error:
        load_featuriser(str(directory), LoadOptions(nogpu=True))
    assert "\n" not in str(error.value)
