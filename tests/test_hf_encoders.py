"""Hugging Face encoders other than ESM (T5: ProtT5, Ankh; BERT: ProtBert) on tiny random models built here.

The reference is transformers' own forward on token ids built independently from each vocabulary
(the authors' rule: ProtT5/ProtBert read U Z O B as X, Ankh reads letters as they are), not through
the backend's tokenisation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from plmtransfer.backends import load_featuriser, resolve_backend  # noqa: E402
from plmtransfer.backends.base import LoadOptions  # noqa: E402
from plmtransfer.backends.hf import TOKENISATION  # noqa: E402
from plmtransfer.errors import UserError  # noqa: E402
from plmtransfer.io import load_compressed  # noqa: E402
from plmtransfer.registry import find_spec  # noqa: E402
from tests.conftest import REPO_ROOT  # noqa: E402
from tests.hf_encoder_models import PROTBERT_VOCAB, WRITERS  # noqa: E402
from tests.test_hf import fake_hub_cache  # noqa: E402

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MKUZOBAXW", "MSHHW"]  # the second has every rare residue
TOLERANCE = 1e-6  # absolute and relative: a padded batch changes float32 sums in the last bits
RARE = str.maketrans({letter: "X" for letter in "UZOB"})


@pytest.fixture(scope="module", params=sorted(WRITERS))
def model_dir(request, tmp_path_factory) -> tuple[str, Path]:
    """Each family's tiny random model in its own directory."""
    return request.param, WRITERS[request.param](tmp_path_factory.mktemp(request.param) / f"tiny_{request.param}")


def reference_ids(family: str, directory: Path, sequence: str) -> tuple[list[int], int]:
    """Token ids of ``sequence`` built from the vocabulary by the authors' rule, and the first residue's position."""
    if family == "protbert":
        ids = [PROTBERT_VOCAB.index(letter) for letter in sequence.translate(RARE)]
        return [PROTBERT_VOCAB.index("[CLS]"), *ids, PROTBERT_VOCAB.index("[SEP]")], 1
    vocabulary = json.loads((directory / "tokenizer.json").read_text())["model"]["vocab"]
    if family == "prott5":  # a Unigram vocabulary: a list of [piece, score]; residues are word pieces "▁A"
        index = {piece: position for position, (piece, _) in enumerate(vocabulary)}
        ids = [index[f"\u2581{letter}"] for letter in sequence.translate(RARE)]
        return [*ids, index["</s>"]], 0
    return [*(vocabulary[letter] for letter in sequence), vocabulary["</s>"]], 0  # ankh: letters as they are


def reference_forward(family: str, directory: Path, sequence: str) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """transformers' own model, alone on the sequence: ``{layer: L x D}`` residue rows and the start-token rows."""
    from transformers import BertModel, T5EncoderModel

    model_class = BertModel if family == "protbert" else T5EncoderModel
    model = model_class.from_pretrained(directory).eval()
    ids, first = reference_ids(family, directory, sequence)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    rows = {layer: states[0, first:first + len(sequence)] for layer, states in enumerate(hidden)}
    return rows, torch.stack([states[0, 0] for states in hidden])


def test_vectors_equal_transformers_forward(model_dir, one_torch_thread):
    """Every layer of every sequence, embedded in one padded batch, equals transformers' forward alone."""
    family, directory = model_dir
    featuriser = load_featuriser(str(directory), LoadOptions(nogpu=True))
    assert (featuriser.family, featuriser.num_layers, featuriser.embed_dim) == (family, 2, 32)
    layers = [0, 1, 2]
    for sequence, embedded in zip(SEQUENCES, featuriser.embed(SEQUENCES, layers, False), strict=True):
        rows, starts = reference_forward(family, directory, sequence)
        for layer in layers:
            assert embedded.representations[layer].shape == (len(sequence), 32)
            torch.testing.assert_close(embedded.representations[layer], rows[layer], rtol=TOLERANCE,
                                       atol=TOLERANCE)
            if family == "protbert":  # [CLS] is the BOS
                torch.testing.assert_close(embedded.bos[layer], starts[layer], rtol=TOLERANCE, atol=TOLERANCE)
        assert (embedded.bos is None) == (family != "protbert")


def test_rare_residues_follow_the_authors_rule(model_dir, one_torch_thread):
    """ProtT5 and ProtBert read U Z O B as X (the same vectors as an X there); Ankh keeps them apart."""
    family, directory = model_dir
    featuriser = load_featuriser(str(directory), LoadOptions(nogpu=True))
    rare, plain = featuriser.embed(["MKUZOBAXW", "MKXXXXAXW"], [2], False)
    same = torch.allclose(rare.representations[2], plain.representations[2], rtol=0, atol=TOLERANCE)
    assert same == (family != "ankh")
    assert featuriser.has_bos == (family == "protbert")
    assert featuriser.special_positions == (2 if family == "protbert" else 1)
    assert ("U" in featuriser.alphabet) == (family == "ankh")


def test_registry_holds_the_published_checkpoints():
    """Names, layers, widths, heads and licences of the common checkpoints (from their config.json and cards)."""
    expected = {
        "Rostlab/prot_t5_xl_uniref50": ("prott5", 24, 1024, 32, "AFL-3.0"),
        "Rostlab/prot_t5_xl_half_uniref50-enc": ("prott5", 24, 1024, 32, "AFL-3.0"),
        "Rostlab/prot_bert": ("protbert", 30, 1024, 16, "AFL-3.0"),
        "Rostlab/prot_bert_bfd": ("protbert", 30, 1024, 16, "AFL-3.0"),
        "ElnaggarLab/ankh-base": ("ankh", 48, 768, 12, "CC BY-NC-SA 4.0"),
        "ElnaggarLab/ankh-large": ("ankh", 48, 1536, 16, "CC BY-NC-SA 4.0"),
    }
    for hub_name, facts in expected.items():
        spec = find_spec(hub_name)
        assert (spec.family, spec.layers, spec.embed_dim, spec.heads, spec.licence) == facts
        assert resolve_backend(hub_name) == ("hf", spec) and resolve_backend(spec.alias) == ("hf", spec)


def test_parameter_counts_are_the_encoders_built_from_the_published_configs():
    """The registry's counts equal transformers' encoders built (on the meta device) from the published configs."""
    from transformers import BertConfig, BertModel, T5Config, T5EncoderModel

    with torch.device("meta"):
        built = {
            "prott5_xl": T5EncoderModel(T5Config(vocab_size=128, d_model=1024, d_kv=128, d_ff=16384, num_heads=32,
                                                 num_layers=24, feed_forward_proj="relu")),
            "protbert": BertModel(BertConfig(vocab_size=30, hidden_size=1024, num_hidden_layers=30,
                                             num_attention_heads=16, intermediate_size=4096,
                                             max_position_embeddings=40000), add_pooling_layer=False),
            "ankh_base": T5EncoderModel(T5Config(vocab_size=144, d_model=768, d_kv=64, d_ff=3072, num_heads=12,
                                                 num_layers=48, feed_forward_proj="gated-gelu",
                                                 relative_attention_num_buckets=64)),
            "ankh_large": T5EncoderModel(T5Config(vocab_size=144, d_model=1536, d_kv=64, d_ff=3840, num_heads=16,
                                                  num_layers=48, feed_forward_proj="gated-gelu",
                                                  relative_attention_num_buckets=64)),
        }
    for alias, model in built.items():
        assert find_spec(alias).parameters == sum(parameter.numel() for parameter in model.parameters()), alias


def test_a_registry_name_reads_the_cache_even_without_model_type(tmp_path, monkeypatch, one_torch_thread):
    """Rostlab/prot_bert's config.json states no model_type: the registry family's architecture stands in."""
    source = WRITERS["protbert"](tmp_path / "built")
    config = json.loads((source / "config.json").read_text())
    del config["model_type"]
    (source / "config.json").write_text(json.dumps(config))
    fake_hub_cache(tmp_path / "hub", "Rostlab/prot_bert", source)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    featuriser = load_featuriser("Rostlab/prot_bert", LoadOptions(nogpu=True))
    assert (featuriser.name, featuriser.family, featuriser.has_bos) == ("prot_bert", "protbert", True)
    assert featuriser.embed(["MKUT"], [2], False)[0].representations[2].shape == (4, 32)


def test_a_residue_that_is_not_one_token_is_one_line(tmp_path, one_torch_thread):
    """Fed the wrong input form (Ankh's word tokenizer given a spaced string), residues are not one token each."""
    directory = WRITERS["ankh"](tmp_path / "ankh")
    featuriser = load_featuriser(str(directory), LoadOptions(nogpu=True))
    featuriser.tokenisation = TOKENISATION["prott5"]
    with pytest.raises(UserError, match="makes 0 tokens of residue 2") as error:
        featuriser.embed(["MKT"], [0], False)
    assert "\n" not in str(error.value)


def run_extract(*args: str) -> subprocess.CompletedProcess:
    """scripts/extract.py in a subprocess, offline."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PLMTRANSFER_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "extract.py"), *args],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)


def test_extract_pools_mean_end_to_end(model_dir, tmp_path, one_torch_thread):
    """scripts/extract.py DIR FASTA OUT --pool mean: one mean vector per protein, equal to the residues' mean."""
    family, directory = model_dir
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">s{index}\n{sequence}\n" for index, sequence in enumerate(SEQUENCES)))
    completed = run_extract(str(directory), str(fasta), str(tmp_path / "out"), "--pool", "mean", "--nogpu")
    assert completed.returncode == 0, completed.stderr
    vectors = load_compressed(tmp_path / "out" / "embed_layer_2_mean.pkl")
    assert sorted(vectors) == ["s0", "s1", "s2"]
    for index, sequence in enumerate(SEQUENCES):
        rows, _ = reference_forward(family, directory, sequence)
        assert abs(vectors[f"s{index}"] - rows[2].mean(0).numpy()).max() <= 1e-5


def test_t5_has_no_bos_and_extraction_says_so_in_one_line(tmp_path):
    directory = WRITERS["prott5"](tmp_path / "prott5")
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAK\n")
    completed = run_extract(str(directory), str(fasta), str(tmp_path / "out"), "--include", "bos", "--nogpu")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no BOS token" in lines[0], completed.stderr
