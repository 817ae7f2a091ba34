"""The ESM C backend: equality with EvolutionaryScale's reference, loading, registry, offline errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from plmtransfer.analysis.stats import model_info
from plmtransfer.backends import load_featuriser, resolve_backend
from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.esmc.featuriser import (
    EsmcFeaturiser,
    EsmcModel,
    ffn_width,
    load_weights,
    write_test_model,
)
from plmtransfer.errors import UserError
from plmtransfer.registry import find_spec
from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "data" / "esmc_tiny_reference.npz"
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAK", "ACDEFGHIKLMNPQRSTVWYXBZUO"]
ESMC_PYTHON = Path(os.environ.get("PLMTRANSFER_ESMC_PYTHON", "/work/envs/esmc/bin/python"))


def featuriser_for(path: Path, heads: int) -> EsmcFeaturiser:
    """A CPU float32 featuriser on a local weight file with ``heads`` attention heads."""
    return EsmcFeaturiser(load_weights(path, heads), path.stem, "esmc", str(path), torch.device("cpu"),
                          torch.float32)


def residue_rows_difference(ours: torch.Tensor, reference: np.ndarray) -> float:
    """Largest |ours - reference| over every sequence's real positions (BOS, residues, EOS)."""
    return max(float(np.abs(ours[i, :len(s) + 2].numpy() - reference[i, :len(s) + 2]).max())
               for i, s in enumerate(SEQUENCES))


def check_against_reference(featuriser: EsmcFeaturiser, reference: dict) -> None:
    """Same tokens; every block's output and the final embedding within 1e-4 of the reference."""
    tokens = featuriser.tokenise(SEQUENCES)
    assert np.array_equal(tokens.numpy(), reference["tokens"])
    layers = featuriser.num_layers
    with torch.inference_mode():
        ours = featuriser.model.representations(tokens, range(layers + 1))
    for layer in range(1, layers):
        assert residue_rows_difference(ours[layer], reference["hidden_states"][layer - 1]) <= 1e-4, layer
    assert residue_rows_difference(ours[layers], reference["embeddings"]) <= 1e-4
    assert float(np.abs(reference["embeddings"]).max()) > 0.5  # the comparison is not of zeros


def test_fixture_reference_outputs_are_reproduced(tmp_path):
    """CI check: the reference package's outputs (tests/make_esmc_fixture.py) on a tiny random ESM C."""
    fixture = dict(np.load(FIXTURE))
    assert FIXTURE.stat().st_size < 200_000
    state = {key[2:]: torch.from_numpy(value).float() for key, value in fixture.items() if key.startswith("w:")}
    weights = tmp_path / "tiny.pth"
    torch.save(state, weights)
    assert list(fixture["sequences"]) == SEQUENCES
    check_against_reference(featuriser_for(weights, int(fixture["heads"])), fixture)


@pytest.mark.skipif(not ESMC_PYTHON.is_file(), reason=f"no isolated ESM C reference environment at "
                    f"{ESMC_PYTHON} (see tests/esmc_reference.py; or set PLMTRANSFER_ESMC_PYTHON)")
def test_reference_package_gives_the_same_layers(tmp_path):
    """EvolutionaryScale's ESMC.forward (isolated venv) vs ours: 3 blocks of width 128, padded batch."""
    weights = write_test_model(tmp_path / "esmc_t3.pth", d_model=128, heads=2, layers=3, seed=1)
    output = tmp_path / "reference.npz"
    subprocess.run([str(ESMC_PYTHON), str(REPO_ROOT / "tests" / "esmc_reference.py"), str(weights), "2",
                    str(output), *SEQUENCES], check=True, capture_output=True)
    check_against_reference(featuriser_for(weights, 2), dict(np.load(output)))


def transformers_esmc(state: dict[str, torch.Tensor], d_model: int, heads: int, layers: int):
    """transformers' ``EsmcModel`` holding the official-layout ``state`` (fused weights split)."""
    from transformers import EsmcConfig
    from transformers import EsmcModel as TransformersEsmc

    config = EsmcConfig(vocab_size=64, hidden_size=d_model, intermediate_size=ffn_width(d_model),
                        num_hidden_layers=layers, num_attention_heads=heads,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    renamed = {"embed_tokens.weight": state["embed.weight"], "norm.weight": state["transformer.norm.weight"]}
    for index in range(layers):
        block, layer = f"transformer.blocks.{index}.", f"layers.{index}."
        q, k, v = state[block + "attn.layernorm_qkv.1.weight"].chunk(3)
        gate, up = state[block + "ffn.1.weight"].chunk(2)
        renamed.update({
            layer + "input_layernorm.weight": state[block + "attn.layernorm_qkv.0.weight"],
            layer + "input_layernorm.bias": state[block + "attn.layernorm_qkv.0.bias"],
            layer + "self_attn.q_proj.weight": q, layer + "self_attn.k_proj.weight": k,
            layer + "self_attn.v_proj.weight": v,
            layer + "self_attn.q_norm.weight": state[block + "attn.q_ln.weight"],
            layer + "self_attn.k_norm.weight": state[block + "attn.k_ln.weight"],
            layer + "self_attn.o_proj.weight": state[block + "attn.out_proj.weight"],
            layer + "post_attention_layernorm.weight": state[block + "ffn.0.weight"],
            layer + "post_attention_layernorm.bias": state[block + "ffn.0.bias"],
            layer + "mlp.gate_proj.weight": gate, layer + "mlp.up_proj.weight": up,
            layer + "mlp.down_proj.weight": state[block + "ffn.3.weight"],
        })
    model = TransformersEsmc(config).eval()
    model.load_state_dict(renamed, strict=True)
    return model


def test_transformers_esmc_matches_ours_layer_by_layer(tmp_path, one_torch_thread):
    """transformers 5.24's ESMC (hidden_states: embedding, blocks, final norm) equals ours."""
    weights = write_test_model(tmp_path / "t.pth", d_model=128, heads=2, layers=3, seed=2)
    featuriser = featuriser_for(weights, 2)
    reference = transformers_esmc(torch.load(weights, weights_only=True), 128, 2, 3)
    tokens = featuriser.tokenise(SEQUENCES)
    with torch.inference_mode():
        theirs = reference(input_ids=tokens, attention_mask=tokens.ne(1).long(), output_hidden_states=True)
        ours = featuriser.model.representations(tokens, range(4))
    assert len(theirs.hidden_states) == 4
    for layer in range(4):
        assert residue_rows_difference(ours[layer], theirs.hidden_states[layer].numpy()) <= 1e-4, layer
    assert residue_rows_difference(ours[3], theirs.last_hidden_state.numpy()) <= 1e-4


def test_featuriser_outputs_do_not_depend_on_the_batch(tmp_path, one_torch_thread):
    weights = write_test_model(tmp_path / "esmc_tiny.pth", seed=3)
    featuriser = load_featuriser(str(weights), LoadOptions(nogpu=True))
    assert isinstance(featuriser, EsmcFeaturiser)
    assert (featuriser.num_layers, featuriser.embed_dim, featuriser.name) == (2, 128, "esmc_tiny")
    batch = featuriser.embed(SEQUENCES, [0, 1, 2], contacts=False)
    for sequence, embedded in zip(SEQUENCES, batch, strict=True):
        alone = featuriser.embed([sequence], [0, 1, 2], contacts=False)[0]
        assert embedded.representations[2].shape == (len(sequence), 128)
        for layer in (0, 1, 2):
            torch.testing.assert_close(embedded.representations[layer], alone.representations[layer],
                                       rtol=0, atol=1e-5)
            torch.testing.assert_close(embedded.bos[layer], alone.bos[layer], rtol=0, atol=1e-5)
    # layer 0 is the token embedding itself: <cls> row for BOS, residue rows in order
    embed = featuriser.model.embed.weight
    torch.testing.assert_close(batch[1].bos[0], embed[0])
    torch.testing.assert_close(batch[1].representations[0][0], embed[20])  # M


def test_bfloat16_stays_close_to_float32(tmp_path):
    weights = write_test_model(tmp_path / "esmc_tiny.pth", seed=4)
    full = featuriser_for(weights, 2).embed(SEQUENCES[:2], [2], False)
    with pytest.warns(UserWarning, match="slower"):
        half = load_featuriser(str(weights), LoadOptions(nogpu=True, dtype="bfloat16"))
    low = half.embed(SEQUENCES[:2], [2], False)
    assert low[0].representations[2].dtype == torch.float32
    difference = (low[0].representations[2] - full[0].representations[2]).abs().max().item()
    assert 0 < difference < 0.2


def test_repository_copy_directory_resolves_to_its_weight_file(tmp_path):
    weights_dir = tmp_path / "esmc-tiny" / "data" / "weights"
    weights_dir.mkdir(parents=True)
    write_test_model(weights_dir / "esmc_tiny_v0.pth", seed=0)
    assert resolve_backend(str(tmp_path / "esmc-tiny")) == ("esmc", None)
    featuriser = load_featuriser(str(tmp_path / "esmc-tiny"), LoadOptions(nogpu=True))
    assert featuriser.name == "esmc_tiny_v0" and featuriser.num_layers == 2


def test_official_file_name_is_its_registry_model(tmp_path):
    """A local esmc_600m_2024_12_v0.pth is esmc_600m: named so, and its size is checked."""
    weights = write_test_model(tmp_path / "esmc_600m_2024_12_v0.pth", seed=0)
    with pytest.raises(UserError, match="has 2 layers of width 128, but esmc_600m has 36 of width 1152"):
        load_featuriser(str(weights), LoadOptions(nogpu=True))


def test_names_resolve_to_the_esmc_backend():
    for name in ("esmc_300m", "esmc_300M", "esmc-600m", "EvolutionaryScale/esmc-300m-2024-12"):
        backend, spec = resolve_backend(name)
        assert backend == "esmc" and spec.family == "esmc", name
    assert resolve_backend("weights/esmc_600m_2024_12_v0.pth")[0] == "esmc"


def test_registry_matches_the_reference_architectures():
    """esm 3.2.1's pretrained.py: 300M = (960, 15 heads, 30 layers), 600M = (1152, 18, 36)."""
    for name, (width, heads, layers, exact, licence) in {
            "esmc_300m": (960, 15, 30, 333_000_000, "Cambrian Open"),
            "esmc_600m": (1152, 18, 36, 575_000_000, "Cambrian Non-Commercial")}.items():
        spec = find_spec(name)
        assert (spec.embed_dim, spec.heads, spec.layers, spec.licence) == (width, heads, layers, licence)
        assert spec.last_layer == layers and spec.weights_file.endswith("_2024_12_v0.pth")
        with torch.device("meta"):
            count = sum(p.numel() for p in EsmcModel(width, heads, layers).parameters())
        assert abs(count - exact) / exact < 0.01, count  # the encoder; the nominal size is spec.parameters
    assert find_spec("esmc_6b").note.startswith("weights available only through")


def test_stats_place_esmc_by_size_in_its_family():
    small, large = model_info("esmc_300M"), model_info("esmc_600m")
    assert (small.family, small.parameters, large.family, large.parameters) == \
        ("esmc", 300e6, "esmc", 600e6)
    assert not small.random_weights


def run_extract(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """scripts/extract.py in a subprocess (to see exactly what a user sees)."""
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "extract.py"), *args],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)


def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty Hugging Face cache and both offline switches set."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_CACHE": str(tmp_path / "hub"),
            "HF_HUB_OFFLINE": "1", "PLMTRANSFER_OFFLINE": "1"}


@pytest.mark.parametrize("name, message", [
    ("esmc_300m", "esmc_300m (esmc_300m_2024_12_v0.pth) is not in the Hugging Face cache"),
    ("esmc_6b", "weights available only through EvolutionaryScale's Forge API"),
])
def test_absent_weights_are_one_line_and_write_nothing(tmp_path, name, message):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAK\n")
    completed = run_extract(name, str(fasta), str(tmp_path / "out"), "--include", "mean",
                            env=offline_env(tmp_path))
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1 and "Traceback" not in completed.stderr
    assert message in completed.stderr
    if name == "esmc_300m":
        assert "hf download EvolutionaryScale/esmc-300m-2024-12 data/weights/esmc_300m_2024_12_v0.pth" \
            in completed.stderr
    assert not (tmp_path / "out").exists()


def test_registry_name_reads_the_hub_cache(tmp_path, monkeypatch):
    """A cached EvolutionaryScale/esmc-300m-2024-12 snapshot is found offline (here: a wrong-size file)."""
    snapshot = tmp_path / "hub" / "models--EvolutionaryScale--esmc-300m-2024-12" / "snapshots" / "abc123"
    (snapshot / "data" / "weights").mkdir(parents=True)
    write_test_model(snapshot / "data" / "weights" / "esmc_300m_2024_12_v0.pth", seed=0)
    (tmp_path / "hub" / "models--EvolutionaryScale--esmc-300m-2024-12" / "refs").mkdir()
    (tmp_path / "hub" / "models--EvolutionaryScale--esmc-300m-2024-12" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.file_download.HF_HUB_CACHE", str(tmp_path / "hub"), raising=False)
    with pytest.raises(UserError, match="has 2 layers of width 128, but esmc_300m has 30 of width 960"):
        load_featuriser("esmc_300m", LoadOptions(nogpu=True))


def test_drivers_accept_esmc_models(tmp_path):
    """--models "esmc_300m esmc_600m" resolves in the drivers with the study's (last) layers (the plan's
    order is Snakemake's, so the lines are sorted)."""
    from tests.test_drivers import run_driver, write_assay

    write_assay(tmp_path / "data", "IF1_ECOLI", 30, seed=0)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--dry-run",
                           "--datasets", "IF1_ECOLI", "--models", "esmc_300m esmc_600m")
    assert completed.returncode == 0, completed.stderr
    lines = sorted(line for line in completed.stdout.splitlines() if "plmtransfer.cli.extract " in line)
    assert len(lines) == 2
    assert "plmtransfer.cli.extract esmc_300m " in lines[0] and "/esmc_300M/IF1_ECOLI --repr_layers 30 " in lines[0]
    assert "plmtransfer.cli.extract esmc_600m " in lines[1] and "/esmc_600M/IF1_ECOLI --repr_layers 36 " in lines[1]
