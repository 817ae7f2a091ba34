"""The Hugging Face backend: converter, exactness against fair-esm, padding, resolution, offline errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from plmtransfer.backends import load_featuriser, resolve_backend
from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.esm.featuriser import load_model
from plmtransfer.backends.hf.featuriser import (
    ESM_VOCAB,
    HfEsmFeaturiser,
    convert_esm2_checkpoint,
    rotary_esm_representations,
)
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed
from tests.conftest import REPO_ROOT

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAK", "ACDEFGHIKLMNPQRSTVWYXBZUO", "GS"]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def hf_dir(tiny_model, tmp_path_factory) -> Path:
    """The tiny random ESM-2 converted to the Hugging Face layout."""
    return convert_esm2_checkpoint(tiny_model, tmp_path_factory.mktemp("hf") / "esm2_tiny_hf")


@pytest.fixture(scope="module")
def hf_featuriser(hf_dir) -> HfEsmFeaturiser:
    """A CPU float32 featuriser on the converted model."""
    return HfEsmFeaturiser(hf_dir, None, torch.device("cpu"), torch.float32)


def fair_esm_output(tiny_model, sequences, contacts=False) -> dict:
    """fair-esm's own ``ESM2.forward`` on a padded batch: every layer (and contacts)."""
    loaded = load_model(str(tiny_model))
    _, _, tokens = loaded.alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(sequences)])
    with torch.no_grad():
        return loaded.model(tokens, repr_layers=list(range(loaded.num_layers + 1)), return_contacts=contacts)


def test_converter_writes_the_hf_layout(tiny_model, hf_dir):
    assert sorted(path.name for path in hf_dir.iterdir()) == [
        "config.json", "model.safetensors", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    config = json.loads((hf_dir / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["intermediate_size"], config["position_embedding_type"]) == (32, 2, 4, 128, "rotary")
    state = load_file(hf_dir / "model.safetensors")
    fair = load_model(str(tiny_model)).model.state_dict()
    torch.testing.assert_close(state["esm.encoder.layer.1.attention.self.query.weight"],
                               fair["layers.1.self_attn.q_proj.weight"], rtol=0, atol=0)
    torch.testing.assert_close(state["esm.encoder.layer.0.output.dense.bias"], fair["layers.0.fc2.bias"],
                               rtol=0, atol=0)
    torch.testing.assert_close(state["esm.contact_head.regression.weight"],
                               fair["contact_head.regression.weight"], rtol=0, atol=0)
    assert len(state) == 2 * 16 + 12  # per layer 8 modules x (weight, bias); embeddings, norms, heads


def test_tokens_are_fair_esms_and_transformers(tiny_model, hf_dir, hf_featuriser):
    from transformers import EsmTokenizer

    loaded = load_model(str(tiny_model))
    assert list(ESM_VOCAB) == loaded.alphabet.all_toks
    _, _, tokens = loaded.alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(SEQUENCES)])
    ours, mask = hf_featuriser.tokenise(SEQUENCES)
    assert torch.equal(ours, tokens)
    assert torch.equal(mask.bool(), tokens.ne(loaded.alphabet.padding_idx))
    theirs = EsmTokenizer.from_pretrained(hf_dir)(SEQUENCES, padding=True, return_tensors="pt")
    assert torch.equal(ours, theirs["input_ids"]) and torch.equal(mask, theirs["attention_mask"])


def test_unreadable_weights_are_one_user_error(hf_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in hf_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="cannot load the model's weights"):
        load_featuriser(str(broken), LoadOptions(nogpu=True))


def test_hidden_states_equal_fair_esm_representations_for_every_layer(tiny_model, hf_featuriser):
    """Raw transformers output on a padded batch: hidden_states[i] == representations[i]."""
    fair = fair_esm_output(tiny_model, SEQUENCES)["representations"]
    tokens, mask = hf_featuriser.tokenise(SEQUENCES)
    with torch.no_grad():
        output = hf_featuriser.model(input_ids=tokens, attention_mask=mask, output_hidden_states=True)
    assert len(output.hidden_states) == 3
    for layer in range(3):
        for i, sequence in enumerate(SEQUENCES):
            real = slice(0, len(sequence) + 2)
            difference = (output.hidden_states[layer][i, real] - fair[layer][i, real]).abs().max().item()
            assert difference <= TOLERANCE, (layer, i, difference)
    torch.testing.assert_close(output.last_hidden_state, output.hidden_states[2], rtol=0, atol=0)


def test_layer_loop_equals_transformers_forward(hf_featuriser):
    """rotary_esm_representations == EsmModel.forward's hidden states, every layer, padded batch."""
    tokens, mask = hf_featuriser.tokenise(SEQUENCES)
    with torch.no_grad():
        output = hf_featuriser.model(input_ids=tokens, attention_mask=mask, output_hidden_states=True)
        ours = rotary_esm_representations(hf_featuriser.model, tokens, mask, [0, 1, 2])
        only_first = rotary_esm_representations(hf_featuriser.model, tokens, mask, [1])
    for layer in range(3):
        for i, sequence in enumerate(SEQUENCES):
            real = slice(0, len(sequence) + 2)
            assert (ours[layer][i, real] - output.hidden_states[layer][i, real]).abs().max().item() <= TOLERANCE
    assert set(only_first) == {1}
    torch.testing.assert_close(only_first[1], ours[1], rtol=0, atol=0)


def test_featuriser_equals_fair_esm_for_every_layer_in_padded_batches(tiny_model, hf_featuriser):
    fair = fair_esm_output(tiny_model, SEQUENCES)["representations"]
    embedded = hf_featuriser.embed(SEQUENCES, [0, 1, 2], contacts=False)
    for i, (sequence, result) in enumerate(zip(SEQUENCES, embedded, strict=True)):
        for layer in (0, 1, 2):
            expected = fair[layer][i, 1:len(sequence) + 1]
            assert result.representations[layer].shape == expected.shape
            assert (result.representations[layer] - expected).abs().max().item() <= TOLERANCE
            assert (result.bos[layer] - fair[layer][i, 0]).abs().max().item() <= TOLERANCE


def test_padding_does_not_reach_residues_and_the_mask_is_why(hf_featuriser):
    """Batched == alone with the mask; without it transformers lets residues attend to padding."""
    short = SEQUENCES[1]
    alone = hf_featuriser.embed([short], [2], contacts=False)[0].representations[2]
    batched = hf_featuriser.embed(SEQUENCES, [2], contacts=False)[1].representations[2]
    assert (batched - alone).abs().max().item() <= TOLERANCE
    tokens, _ = hf_featuriser.tokenise(SEQUENCES)
    with torch.no_grad():
        unmasked = hf_featuriser.model(input_ids=tokens).last_hidden_state[1, 1:len(short) + 1]
    assert (unmasked.mean(0) - alone.mean(0)).abs().max().item() > 0.1


def test_contacts_equal_fair_esms(tiny_model, hf_featuriser):
    fair = fair_esm_output(tiny_model, SEQUENCES[:3], contacts=True)["contacts"]
    assert hf_featuriser.has_contacts
    embedded = hf_featuriser.embed(SEQUENCES[:3], [2], contacts=True)
    for i, sequence in enumerate(SEQUENCES[:3]):
        length = len(sequence)
        assert embedded[i].contacts.shape == (length, length)
        assert (embedded[i].contacts - fair[i, :length, :length]).abs().max().item() <= TOLERANCE
    # sdpa again afterwards: the representations are unchanged
    again = hf_featuriser.embed(SEQUENCES[:1], [2], contacts=False)[0].representations[2]
    torch.testing.assert_close(again, embedded[0].representations[2], rtol=0, atol=TOLERANCE)


def test_extraction_through_hf_equals_fair_esm(tiny_model, hf_dir, tmp_path):
    """The whole stage: pooled files from the HF directory equal those from the .pt checkpoint."""
    fasta = tmp_path / "in.fasta"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQUENCES)))
    options = ExtractOptions(pool=("mean", "bos"), repr_layers=(0, 2), quiet=True, nogpu=True)
    run_extraction(str(tiny_model), fasta, tmp_path / "esm", options)
    run_extraction(str(hf_dir), fasta, tmp_path / "hf", options)
    for name in ("embed_layer_2_mean.pkl", "embed_layer_0_bos.pkl"):
        esm_vectors, hf_vectors = load_compressed(tmp_path / "esm" / name), load_compressed(tmp_path / "hf" / name)
        assert sorted(esm_vectors) == sorted(hf_vectors) == [f"s{i}" for i in range(len(SEQUENCES))]
        for label, vector in esm_vectors.items():
            assert abs(vector - hf_vectors[label]).max() <= TOLERANCE


@pytest.mark.parametrize("location, backend", [
    ("facebook/esm2_t33_650M_UR50D", "hf"),
    ("facebook/esm1v_t33_650M_UR90S_1", "hf"),
    ("facebook/esm1v_t33_650M_UR90S_3", "hf"),
    ("esm2_t33_650M_UR50D", "esm"),
    ("esm2_650M", "esm"),
    ("models/esm2_t6_8M_UR50D.pt", "esm"),
])
def test_resolution(location, backend):
    assert resolve_backend(location)[0] == backend


def test_hf_directory_resolves_to_hf(hf_dir):
    assert resolve_backend(str(hf_dir)) == ("hf", None)
    featuriser = load_featuriser(str(hf_dir), LoadOptions(nogpu=True))
    assert (featuriser.name, featuriser.num_layers, featuriser.embed_dim) == ("esm2_tiny_hf", 2, 32)


def fake_hub_cache(root: Path, repository: str, source: Path) -> Path:
    """Lay ``source``'s files out as huggingface_hub's cache of ``repository`` (refs/main -> snapshot)."""
    repo_dir = root / f"models--{repository.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for path in source.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abcd")
    return snapshot


def test_hub_name_reads_the_cache_offline(hf_dir, tmp_path, monkeypatch):
    fake_hub_cache(tmp_path / "hub", "facebook/esm2_t6_8M_UR50D", hf_dir)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    featuriser = load_featuriser("facebook/esm2_t6_8M_UR50D", LoadOptions(nogpu=True))
    assert featuriser.name == "esm2_t6_8M_UR50D" and featuriser.family == "esm2"
    assert "0123abcd" in featuriser.identity
    direct = HfEsmFeaturiser(hf_dir, None, torch.device("cpu"), torch.float32)
    torch.testing.assert_close(featuriser.embed(["MKT"], [2], False)[0].representations[2],
                               direct.embed(["MKT"], [2], False)[0].representations[2], rtol=0, atol=0)


def run_extract(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """scripts/extract.py in a subprocess (to see exactly what a user sees)."""
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "extract.py"), *args],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)


@pytest.mark.parametrize("switch", ["HF_HUB_OFFLINE", "PLMTRANSFER_OFFLINE"])
def test_absent_hub_model_is_one_line_and_writes_nothing(tmp_path, switch):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAK\n")
    env = {key: value for key, value in os.environ.items()
           if key not in {"HF_HUB_OFFLINE", "PLMTRANSFER_OFFLINE"}}
    env.update({"PYTHONPATH": str(REPO_ROOT), "HF_HUB_CACHE": str(tmp_path / "hub"), switch: "1"})
    completed = run_extract("facebook/esm2_t6_8M_UR50D", str(fasta), str(tmp_path / "out"),
                            "--include", "mean", env=env)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert "model facebook/esm2_t6_8M_UR50D is not in the Hugging Face cache" in lines[0]
    assert "`hf download facebook/esm2_t6_8M_UR50D`" in lines[0]
    assert f"{tmp_path / 'hub'}" in lines[0]
    assert not (tmp_path / "out").exists()


def test_drivers_accept_hf_names(tmp_path):
    """--models with a Hugging Face name runs that name and files it under the model's alias."""
    from tests.test_drivers import run_driver, write_assay

    write_assay(tmp_path / "data", "IF1_ECOLI", 30, seed=0)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--dry-run",
                           "--datasets", "IF1_ECOLI", "--models", "facebook/esm2_t30_150M_UR50D")
    assert completed.returncode == 0, completed.stderr
    lines = [line for line in completed.stdout.splitlines() if "plmtransfer.cli.extract " in line]
    assert len(lines) == 1
    assert "plmtransfer.cli.extract facebook/esm2_t30_150M_UR50D " in lines[0]
    assert "/esm2_150M/IF1_ECOLI --repr_layers 30 " in lines[0]
