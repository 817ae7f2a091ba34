"""Write tests/data/esmc_tiny_reference.npz: a tiny random ESM C and the reference package's outputs.

Run from the repository root with the project's environment, beside the isolated environment
that holds EvolutionaryScale's ``esm`` package (see tests/esmc_reference.py)::

    PYTHONPATH=$PWD .venv/bin/python tests/make_esmc_fixture.py [--esmc-python /work/envs/esmc/bin/python]

The model (width 32, 2 heads, 2 blocks, seed 0) is written by
``plmtransfer.backends.esmc.featuriser.write_test_model`` and its weights are rounded to float16, so the
fixture stores them exactly in half the space; the reference runs on those rounded weights in
float32. The file holds ``w:<parameter>`` (float16), ``heads``, ``sequences``, ``tokens``,
``hidden_states`` and ``embeddings`` (float32), about 150 KB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from plmtransfer.backends.esmc.featuriser import write_test_model

FIXTURE = Path(__file__).resolve().parent / "data" / "esmc_tiny_reference.npz"
SEQUENCES = ("MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAK", "ACDEFGHIKLMNPQRSTVWYXBZUO")
WIDTH, HEADS, LAYERS, SEED = 32, 2, 2, 0
DEFAULT_PYTHON = Path("/work/envs/esmc/bin/python")


def main(argv=None) -> int:
    """Write the model, run the reference on it, pack weights and outputs into the fixture."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--esmc-python", type=Path, default=DEFAULT_PYTHON,
                        help="python of the isolated environment with EvolutionaryScale's esm")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        weights = write_test_model(Path(temporary) / "tiny.pth", WIDTH, HEADS, LAYERS, SEED)
        state = {key: value.half().float() for key, value in torch.load(weights, weights_only=True).items()}
        torch.save(state, weights)
        outputs = Path(temporary) / "reference.npz"
        subprocess.run([str(args.esmc_python), str(Path(__file__).with_name("esmc_reference.py")),
                        str(weights), str(HEADS), str(outputs), *SEQUENCES], check=True)
        reference = dict(np.load(outputs))
    packed = {f"w:{key}": value.half().numpy() for key, value in state.items()
              if not key.startswith("sequence_head.")}
    np.savez_compressed(FIXTURE, heads=np.array(HEADS), sequences=np.array(SEQUENCES), **reference, **packed)
    print(f"{FIXTURE}: {FIXTURE.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
