"""PISCES preparation: filter culled PDB chains and compute the study's per-protein targets.

Sequence targets (the study's ``PCP_*`` files), one value per chain:

- ``PCP_length``: number of residues;
- ``PCP_mW_kDa``: average molecular weight in kDa (Biopython ProtParam, one water added);
- ``PCP_Isoelectric_point`` and ``PCP_Charge`` (net charge at pH 7): Henderson–Hasselbalch
  with the Lehninger pK scale (:data:`LEHNINGER_PK`), the scale the study's ``peptides``
  package was asked for. Biopython's ProtParam uses a different, Bjellqvist-derived scale
  (N-terminus 7.5, K 10.0, R 12.0, H 5.98, C-terminus 3.55, D 4.05, E 4.45, C 9.0, Y 10.0,
  with residue-specific terminal pKs), so these two are computed here;
- ``PCP_Hydrophobicity``: mean Kyte–Doolittle hydropathy (ProtParam ``gravy``);
- ``PCP_Instability_index``: Guruprasad et al. 1990 (ProtParam ``instability_index``);
- ``PCP_AAfreq_<Xxx>``: fraction (0–1) of each of the 20 standard amino acids.

Structure targets ``SS_H``, ``SS_E``, ``SS_Coil``: fractions of helix, strand and coil over
the *resolved* residues, from 3-state labels with a resolved-residue mask (the FLIP /
NetSurfP files of the offline mirror) or from a structure through DSSP (8 states reduced
to 3 as NetSurfP-2.0 does: H, G, I -> helix; E, B -> strand; the rest -> coil).

Non-standard letters: chains containing ``X`` (unknown), ``U`` (selenocysteine), ``O``
(pyrrolysine), ``B`` or ``Z`` are dropped and counted, because their weight, charge and
hydropathy are undefined or would need a guess; the study's chain set is large enough that
the handful lost does not matter (51 of the 10,720 mirror chains of 64-1022 residues).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from plmtransfer.data.sequences import STANDARD_AMINO_ACIDS, Record, read_fasta
from plmtransfer.errors import UserError

MIN_LENGTH = 64
MAX_LENGTH = 1022
CHARGE_PH = 7.0

# Lehninger pK values (Nelson & Cox, Lehninger Principles of Biochemistry, 4th ed., 2004,
# p. 1100), as in the ``peptides`` package's "Lehninger" scale: positive groups first.
LEHNINGER_PK: dict[str, float] = {
    "Nterm": 9.69, "K": 10.53, "R": 12.48, "H": 6.00,
    "Cterm": 2.34, "D": 3.65, "E": 4.25, "C": 8.18, "Y": 10.07,
}
POSITIVE_GROUPS = ("Nterm", "K", "R", "H")
NEGATIVE_GROUPS = ("Cterm", "D", "E", "C", "Y")

THREE_LETTER = {
    "A": "Ala", "C": "Cys", "D": "Asp", "E": "Glu", "F": "Phe", "G": "Gly", "H": "His",
    "I": "Ile", "K": "Lys", "L": "Leu", "M": "Met", "N": "Asn", "P": "Pro", "Q": "Gln",
    "R": "Arg", "S": "Ser", "T": "Thr", "V": "Val", "W": "Trp", "Y": "Tyr",
}

SEQUENCE_TARGETS = (
    "PCP_length", "PCP_mW_kDa", "PCP_Isoelectric_point", "PCP_Charge",
    "PCP_Hydrophobicity", "PCP_Instability_index",
) + tuple(f"PCP_AAfreq_{THREE_LETTER[letter]}" for letter in STANDARD_AMINO_ACIDS)
STRUCTURE_TARGETS = ("SS_H", "SS_E", "SS_Coil")

# DSSP 8-state -> 3-state (NetSurfP-2.0 / FLIP convention).
DSSP_TO_3STATE = {"H": "H", "G": "H", "I": "H", "E": "E", "B": "E"}


def group_counts(sequence: str) -> dict[str, int]:
    """Count the ionisable groups of ``sequence``: its side chains plus one of each terminus."""
    counts = Counter(sequence)
    groups = {group: counts.get(group, 0) for group in LEHNINGER_PK}
    groups["Nterm"] = groups["Cterm"] = 1
    return groups


def net_charge(sequence: str, ph: float = CHARGE_PH, pk: Mapping[str, float] = LEHNINGER_PK) -> float:
    """Net charge at ``ph`` by Henderson–Hasselbalch over the groups of ``pk``."""
    groups = group_counts(sequence)
    positive = sum(groups[g] / (1.0 + 10.0 ** (ph - pk[g])) for g in POSITIVE_GROUPS)
    negative = sum(groups[g] / (1.0 + 10.0 ** (pk[g] - ph)) for g in NEGATIVE_GROUPS)
    return positive - negative


def isoelectric_point(sequence: str, pk: Mapping[str, float] = LEHNINGER_PK,
                      tolerance: float = 1e-6) -> float:
    """The pH in [0, 14] where :func:`net_charge` is zero, by bisection (charge falls with pH)."""
    low, high = 0.0, 14.0
    while high - low > tolerance:
        middle = (low + high) / 2.0
        if net_charge(sequence, middle, pk) > 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def sequence_targets(sequence: str) -> dict[str, float]:
    """All ``PCP_*`` targets of one standard-alphabet sequence."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    analysis = ProteinAnalysis(sequence)
    counts = Counter(sequence)
    targets = {
        "PCP_length": float(len(sequence)),
        "PCP_mW_kDa": analysis.molecular_weight() / 1000.0,
        "PCP_Isoelectric_point": isoelectric_point(sequence),
        "PCP_Charge": net_charge(sequence),
        "PCP_Hydrophobicity": analysis.gravy(),
        "PCP_Instability_index": analysis.instability_index(),
    }
    for letter in STANDARD_AMINO_ACIDS:
        targets[f"PCP_AAfreq_{THREE_LETTER[letter]}"] = counts.get(letter, 0) / len(sequence)
    return targets


def structure_fractions(states: str) -> dict[str, float]:
    """Fractions of ``H``, ``E`` and coil (any other letter) in a string of 3-state labels."""
    if not states:
        raise ValueError("no resolved residues")
    counts = Counter(states)
    helix, strand = counts.get("H", 0), counts.get("E", 0)
    return {"SS_H": helix / len(states), "SS_E": strand / len(states),
            "SS_Coil": (len(states) - helix - strand) / len(states)}


def resolved_states(labels: str, mask: str) -> str:
    """The 3-state labels of the residues whose mask is ``1`` (resolved in the structure)."""
    return "".join(state for state, flag in zip(labels, mask, strict=True) if flag == "1")


def dssp_states(structure: str | os.PathLike, chain: str | None = None) -> str:
    """3-state labels of the residues DSSP assigns in ``structure`` (PDB or mmCIF).

    Runs ``mkdssp`` (Debian package ``dssp``) through Biopython's DSSP wrapper on the first
    model; with ``chain`` only that chain's residues are kept. Unresolved residues are
    absent from the structure, so the fractions are over resolved residues by construction.
    """
    import shutil

    from Bio.PDB import DSSP, MMCIFParser, PDBParser

    executable = shutil.which("mkdssp") or shutil.which("dssp")
    if executable is None:
        raise UserError("DSSP is not installed: install the 'dssp' package (mkdssp), e.g. "
                        "apt-get install dssp, or use the 3-state label files (--labels/--mask)")
    path = Path(structure)
    parser = MMCIFParser(QUIET=True) if path.suffix.lower() in {".cif", ".mmcif"} else PDBParser(QUIET=True)
    model = parser.get_structure(path.stem, str(path))[0]
    dssp = DSSP(model, str(path), dssp=executable)
    states = []
    for key in dssp.keys():
        if chain is None or key[0] == chain:
            states.append(DSSP_TO_3STATE.get(dssp[key][2], "C"))
    return "".join(states)


@dataclass
class PiscesSelection:
    """Chains kept and the reasons others were dropped (counts per reason)."""

    kept: list[Record] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def chain_id(label: str) -> str:
    """The chain identifier of a FASTA header: its first whitespace-separated word."""
    return label.split()[0]


def select_chains(records: Iterable[Record], min_length: int = MIN_LENGTH,
                  max_length: int = MAX_LENGTH) -> PiscesSelection:
    """Keep chains of ``min_length``..``max_length`` residues made of the 20 standard letters."""
    selection = PiscesSelection()
    standard = set(STANDARD_AMINO_ACIDS)
    for record in records:
        nonstandard = sorted(set(record.sequence) - standard)
        if not min_length <= len(record.sequence) <= max_length:
            selection.dropped[f"length outside {min_length}-{max_length}"] += 1
        elif nonstandard:
            selection.dropped[f"non-standard residue(s) {''.join(nonstandard)}"] += 1
        else:
            selection.kept.append(Record(chain_id(record.label), record.sequence))
    return selection


def read_state_files(labels_path: str | os.PathLike, mask_path: str | os.PathLike | None
                     ) -> dict[str, str]:
    """``{chain: resolved 3-state labels}`` from a label FASTA and (optionally) a mask FASTA."""
    labels = {chain_id(r.label): r.sequence for r in read_fasta(labels_path, validate=False)}
    if mask_path is None:
        return labels
    masks = {chain_id(r.label): r.sequence for r in read_fasta(mask_path, validate=False)}
    resolved = {}
    for chain, states in labels.items():
        if chain not in masks:
            raise UserError(f"{mask_path}: no mask for chain {chain!r} of {labels_path}")
        if len(masks[chain]) != len(states):
            raise UserError(f"{mask_path}: chain {chain!r}: mask length {len(masks[chain])} differs "
                            f"from its {len(states)} labels in {labels_path}")
        resolved[chain] = resolved_states(states, masks[chain])
    return resolved


def compute_targets(chains: list[Record], states: Mapping[str, str] | None,
                    progress: bool = True) -> tuple[dict[str, dict[str, float]], Counter]:
    """``{target: {chain: value}}`` for every kept chain, and the chains dropped for structure.

    With ``states`` (resolved 3-state labels per chain) the ``SS_*`` targets are added; a
    chain without labels or without a resolved residue gets no ``SS_*`` value (counted).
    ``progress`` shows a progress bar.
    """
    from tqdm import tqdm

    names = SEQUENCE_TARGETS + (STRUCTURE_TARGETS if states is not None else ())
    targets: dict[str, dict[str, float]] = {name: {} for name in names}
    missing: Counter = Counter()
    for chain in tqdm(chains, desc="targets", unit="chain", disable=not progress):
        for name, value in sequence_targets(chain.sequence).items():
            targets[name][chain.label] = value
        if states is None:
            continue
        if chain.label not in states:
            missing["no secondary-structure labels"] += 1
        elif not states[chain.label]:
            missing["no resolved residue"] += 1
        else:
            for name, value in structure_fractions(states[chain.label]).items():
                targets[name][chain.label] = value
    return targets, missing

