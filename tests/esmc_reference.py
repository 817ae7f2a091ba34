"""Run EvolutionaryScale's reference ESM C on a weight file; write its outputs to an .npz.

This script runs in the isolated environment that holds EvolutionaryScale's ``esm`` package
(which cannot live beside fair-esm): ``/work/envs/esmc`` or ``$PLMTRANSFER_ESMC_PYTHON``'s.
Make one with ``python3 -m venv /work/envs/esmc``, then
``pip install torch==2.13.0`` (CPU), ``pip install --no-deps esm==3.2.1.post1`` and what ESM C's
code imports: ``einops attrs numpy huggingface_hub zstd cloudpathlib tenacity pandas scipy
tokenizers transformers biotite brotli msgpack-numpy biopython httpx``.

Usage: ``python esmc_reference.py WEIGHTS.pth HEADS OUTPUT.npz SEQUENCE...``. Writes ``tokens``
(the reference tokenizer's padded batch), ``hidden_states`` (layers x B x T x D, the output of
every block) and ``embeddings`` (B x T x D, after the final LayerNorm), all from
``ESMC.forward`` without flash attention, in float32 on the CPU.
"""

import sys

import numpy as np
import torch
from esm.models.esmc import ESMC
from esm.tokenization import get_esmc_model_tokenizers


def main(argv: list[str]) -> int:
    """Load the weights into the reference model, run the sequences, save the outputs."""
    weights, heads, output, *sequences = argv
    state = torch.load(weights, map_location="cpu", weights_only=True)
    d_model = state["embed.weight"].shape[1]
    layers = len({key.split(".")[2] for key in state if key.startswith("transformer.blocks.")})
    model = ESMC(d_model=d_model, n_heads=int(heads), n_layers=layers,
                 tokenizer=get_esmc_model_tokenizers(), use_flash_attn=False).eval()
    model.load_state_dict(state, strict=True)
    tokens = model._tokenize(sequences)
    with torch.no_grad():
        result = model(sequence_tokens=tokens)
    np.savez(output, tokens=tokens.numpy(), hidden_states=result.hidden_states.float().numpy(),
             embeddings=result.embeddings.float().numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
