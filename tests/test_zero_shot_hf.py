"""Zero-shot scores through the Hugging Face ESM head equal fair-esm's on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.hf.featuriser import convert_esm2_checkpoint
from plmtransfer.backends.language_model import load_language_model
from plmtransfer.errors import UserError
from plmtransfer.learn import zero_shot
from plmtransfer.options import MASKED_LM_SCORINGS
from tests.test_zero_shot import MUTANTS, write_metadata

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def hf_dir(tiny_model, tmp_path_factory):
    """The random test model converted to the Hugging Face layout."""
    return convert_esm2_checkpoint(tiny_model, tmp_path_factory.mktemp("hf") / "esm2_tiny_hf")


@pytest.mark.parametrize("scoring", MASKED_LM_SCORINGS)
def test_hf_scores_equal_fair_esm_scores(tmp_path, tiny_model, hf_dir, one_torch_thread, scoring):
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv"))
    fair = load_language_model(str(tiny_model), LoadOptions(nogpu=True))
    hf = load_language_model(str(hf_dir), LoadOptions(nogpu=True))
    assert hf.name == "esm2_tiny_hf" and hf.max_residues == fair.max_residues == 1022
    expected, fair_passes = zero_shot.score_assay(fair, assay, scoring)
    scores, passes = zero_shot.score_assay(hf, assay, scoring)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=TOLERANCE)
    assert passes == fair_passes and np.abs(scores).max() > 1e-3
    assert scores[MUTANTS.index("WT")] == 0.0


def test_hf_windows_equal_fair_esm(tmp_path, tiny_model, hf_dir, one_torch_thread):
    """Long-protein windows (16 residues of 33) read the same through both backends."""
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv"))
    fair = load_language_model(str(tiny_model), LoadOptions(nogpu=True))
    hf = load_language_model(str(hf_dir), LoadOptions(nogpu=True))
    for scoring in ("masked-marginals", "wt-marginals"):
        expected, _ = zero_shot.score_assay(fair, assay, scoring, size=16)
        scores, _ = zero_shot.score_assay(hf, assay, scoring, size=16)
        np.testing.assert_allclose(scores, expected, rtol=0, atol=TOLERANCE)


def test_hf_weights_without_lm_head_are_one_error(hf_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    stripped = tmp_path / "no_head"
    stripped.mkdir()
    for name in ("config.json", "vocab.txt"):
        (stripped / name).write_text((hf_dir / name).read_text())
    state = {key: value for key, value in load_file(hf_dir / "model.safetensors").items()
             if not key.startswith("lm_head")}
    save_file(state, str(stripped / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(UserError, match="no language-model head"):
        load_language_model(str(stripped), LoadOptions(nogpu=True))
