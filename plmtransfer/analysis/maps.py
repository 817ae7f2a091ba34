"""Interpretation maps of one protein: its predicted contact map and its attention heads.

Drawn from a per-sequence output of ``scripts/extract.py --include contacts [attentions]`` by
``scripts/plot.py contacts`` (:mod:`plmtransfer.cli.plot`) with the layout toolkit of
:mod:`plmtransfer.analysis.figure_layout`; residues are numbered from 1 on both axes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from plmtransfer.analysis.figure_layout import (
    OKABE_ITO,
    PAGE_WIDTH_IN,
    apply_style,
    bottom_legend,
    font_size,
    legend_columns,
    legend_height_in,
    model_label,
    save_figure,
    wrap_label,
)
from plmtransfer.errors import UserError

SECONDARY_STRUCTURE = {"H": ("helix", OKABE_ITO[3]), "E": ("strand", OKABE_ITO[0]), "C": ("coil", "0.55")}
MIN_SEPARATION = 6
MAX_HEAD_PANELS = 16
ATTENTION_SCALE_PERCENTILE = 99


def contact_map_plot(contacts: np.ndarray | None, stem: str | Path, protein: str, model: str,
                     heads: dict[str, np.ndarray] | None = None, secondary_structure: str | None = None,
                     true_contacts: np.ndarray | None = None, true_label: str = "true contact",
                     min_separation: int = MIN_SEPARATION) -> list[Path]:
    """A protein's predicted contact map (``<stem>``) and, given ``heads``, its attention heads (``<stem>_attention``).

    ``contacts``: L x L contact probabilities, drawn whole (colour bar 0..1), residues numbered
    from 1 on both axes. ``secondary_structure``: L letters H/E/C, a track above the map.
    ``true_contacts``: L x L booleans, drawn as dots in the lower triangle (pairs at least
    ``min_separation`` apart in sequence), so the upper triangle shows the prediction alone.
    ``heads``: panel title -> L x L attention weights (query rows, key columns), each panel
    on its own scale (0 to its ``ATTENTION_SCALE_PERCENTILE``-th percentile: a few large
    weights, often on the first residues, would otherwise leave the rest white). Returns every
    file written.
    """
    apply_style()
    paths = []
    if contacts is not None:
        paths += save_figure(_contact_figure(contacts, protein, model, secondary_structure, true_contacts,
                                             true_label, min_separation), stem)
    if heads:
        paths += save_figure(_attention_figure(heads, protein, model), Path(f"{stem}_attention"))
    if not paths:
        raise UserError("nothing to draw: the file has no contacts and no attention heads were chosen")
    return paths


def residue_axes(axis, length: int) -> None:
    """Residue numbers (1-based, integers) on both axes of an L x L map drawn with :func:`residue_extent`."""
    for which in (axis.xaxis, axis.yaxis):
        which.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 5, 10]))
    axis.set_xlim(0.5, length + 0.5)
    axis.set_ylim(length + 0.5, 0.5)


def residue_extent(length: int) -> tuple[float, float, float, float]:
    """``imshow`` extent that puts residue i (1-based) at coordinate i, residue 1 top left."""
    return (0.5, length + 0.5, length + 0.5, 0.5)


def _contact_figure(contacts, protein, model, secondary_structure, true_contacts, true_label, min_separation):
    """The predicted contact map with its optional secondary-structure track and true-contact dots."""
    length = contacts.shape[0]
    width = 5.0
    labels = ([f"{true_label}, |i − j| ≥ {min_separation} (lower triangle)"] if true_contacts is not None else [])
    letters = [letter for letter in SECONDARY_STRUCTURE if letter in (secondary_structure or "")]
    labels += [f"{SECONDARY_STRUCTURE[letter][0]} ({letter}, top track)" for letter in letters]
    title = wrap_label(f"Predicted contacts of {protein}\n{model_label(model)}", width - 0.3,
                       font_size("figure.titlesize"))
    legend = legend_height_in(labels, legend_columns(labels, width - 0.2)) if labels else 0.0
    height = 4.55 + 0.17 * title.count("\n") + 0.2 * (secondary_structure is not None) + legend
    figure, axis = plt.subplots(figsize=(width, height), layout="constrained")
    image = axis.imshow(contacts, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest",
                        extent=residue_extent(length))
    residue_axes(axis, length)
    axis.set_xlabel("residue (position in the sequence)")
    axis.set_ylabel("residue (position in the sequence)")
    figure.colorbar(image, ax=axis, label="predicted contact probability", shrink=0.8)
    handles = []
    if true_contacts is not None:
        rows, columns = np.nonzero(np.tril(true_contacts, k=-min_separation))
        size = float(np.clip((270.0 / length) ** 2, 5.0, 30.0))  # about one residue, never below 2.5 pt wide
        handles.append(axis.scatter(columns + 1, rows + 1, s=size, color="black", marker="o", linewidths=0))
    if secondary_structure is not None:
        _secondary_structure_track(axis, secondary_structure)
        handles += [Patch(color=SECONDARY_STRUCTURE[letter][1]) for letter in letters]
    figure.suptitle(title)
    if handles:
        bottom_legend(figure, handles, labels)
    return figure


def _secondary_structure_track(axis, secondary_structure: str) -> None:
    """Helices and strands as coloured bars, coil as a thin line, in a strip above ``axis``."""
    track = axis.inset_axes([0.0, 1.015, 1.0, 0.035], sharex=axis)
    for start, letter, run in _runs(secondary_structure):
        colour = SECONDARY_STRUCTURE[letter][1]
        height = (0.35, 0.3) if letter == "C" else (0.0, 1.0)
        track.broken_barh([(start - 0.5, run)], height, color=colour, linewidth=0)
    track.set_ylim(0, 1)
    track.set_axis_off()


def _runs(letters: str) -> list[tuple[int, str, int]]:
    """``(first residue (1-based), letter, length)`` of each run of equal letters."""
    runs = []
    for match in re.finditer(r"(.)\1*", letters):
        runs.append((match.start() + 1, match.group(1), len(match.group(0))))
    return runs


def _attention_figure(heads: dict[str, np.ndarray], protein: str, model: str):
    """A grid of attention maps, one panel per chosen head, each on its own scale (see the caller)."""
    count = len(heads)
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    width = min(PAGE_WIDTH_IN, 1.6 * columns + 1.4)
    figure = plt.figure(figsize=(width, 1.75 * rows + 1.0), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    image = None
    for axis, (name, weights) in zip(axes, heads.items(), strict=False):
        length = weights.shape[0]
        scale = float(np.nanpercentile(weights, ATTENTION_SCALE_PERCENTILE)) or float(np.nanmax(weights)) or 1.0
        image = axis.imshow(weights / scale, cmap="Purples", vmin=0.0, vmax=1.0, interpolation="nearest",
                            extent=residue_extent(length))
        residue_axes(axis, length)
        axis.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True, steps=[1, 2, 5, 10]))
        axis.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True, steps=[1, 2, 5, 10]))
        axis.set_title(f"{name}\n{ATTENTION_SCALE_PERCENTILE}th percentile {scale:.2g}", fontsize=7)
    for axis in axes[count:]:
        axis.set_visible(False)
    figure.supxlabel("attended residue (key)", fontsize=8)
    figure.supylabel("attending residue (query)", fontsize=8)
    figure.colorbar(image, ax=axes[:count].tolist(), extend="max", shrink=0.8,
                    label=f"attention weight ÷ {ATTENTION_SCALE_PERCENTILE}th percentile")
    figure.suptitle(wrap_label(f"Attention maps of {protein} ({model_label(model)})", width - 0.3,
                               font_size("figure.titlesize")))
    return figure


def attention_heads(attentions: np.ndarray, layers: Sequence[int], specs: Sequence[str]) -> dict[str, np.ndarray]:
    """The maps chosen by ``specs`` from an extract output's ``attentions`` (``attention_layers`` = ``layers``).

    A spec is ``LAYER:HEAD`` (heads numbered from 0, as in the tensor), ``LAYER:FIRST-LAST``,
    ``LAYER:all`` or ``LAYER:mean`` (the heads' mean; the only choice when the file holds means).
    Returns ``{"layer 30, head 5": L x L}`` in the order given; at most ``MAX_HEAD_PANELS``.
    """
    layers = list(layers)
    averaged = attentions.ndim == 3
    chosen: dict[str, np.ndarray] = {}
    for spec in specs:
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+(?:-\d+)?|all|mean)\s*", spec)
        if not match:
            raise UserError(f"--attention {spec!r}: use LAYER:HEAD, LAYER:FIRST-LAST, LAYER:all or LAYER:mean "
                            "(e.g. 30:5)")
        layer, heads = int(match.group(1)), match.group(2)
        if layer not in layers:
            raise UserError(f"--attention {spec}: the file has the attention maps of layer(s) "
                            f"{', '.join(map(str, layers))}")
        maps = attentions[layers.index(layer)].astype(np.float32)
        if heads == "mean":
            chosen[f"layer {layer}, mean of heads"] = maps if averaged else maps.mean(0)
            continue
        if averaged:
            raise UserError(f"--attention {spec}: the file holds the heads' mean only (extracted with "
                            f"--attention_heads mean): use {layer}:mean")
        first, last = ((0, maps.shape[0] - 1) if heads == "all" else
                       tuple(int(part) for part in (heads.split("-") * 2)[:2]))
        if not 0 <= first <= last < maps.shape[0]:
            raise UserError(f"--attention {spec}: layer {layer} has heads 0..{maps.shape[0] - 1}")
        for head in range(first, last + 1):
            chosen[f"layer {layer}, head {head}"] = maps[head]
    if len(chosen) > MAX_HEAD_PANELS:
        raise UserError(f"--attention chooses {len(chosen)} maps; one figure shows at most {MAX_HEAD_PANELS}")
    return chosen
