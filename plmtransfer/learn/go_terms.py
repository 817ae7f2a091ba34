"""Gene Ontology data for the function caller: the OBO ontology, CAFA 5 annotations, Fmax.

- :func:`read_obo` parses ``go-basic.obo``: each ``[Term]``'s id, name, namespace, ``is_a``
  and ``relationship: part_of`` parents, ``alt_id`` s and obsolescence.
- :func:`read_annotations` reads CAFA 5's ``train_terms.tsv`` (``EntryID``, ``term``,
  ``aspect`` with ``MFO``/``BPO``/``CCO``), keeps one aspect (``--dataset_subset``
  ``mf``/``bp``/``cc``, or ``all``), maps ``alt_id`` s to their term and refuses ids the
  ontology does not know. A term's aspect is its OBO namespace; rows whose ``aspect``
  column says otherwise are counted in a warning.
- :meth:`Ontology.propagate` adds every ancestor reached through ``is_a`` and ``part_of``,
  so a protein's labels (and, through :func:`consistent_scores`, a prediction) form a
  consistent GO subgraph: a term is never scored below one of its descendants.
- :func:`fmax` is CAFA's protein-centric maximum F-measure over thresholds 0.01 .. 1.00:
  at threshold t, precision is averaged over the proteins with at least one term scored
  >= t, recall over all proteins with annotations; Fmax is the best harmonic mean. With
  information accretion weights (CAFA 5's ``IA.txt``: ``term<TAB>weight``) it is the
  weighted Fmax, each term counting by its weight. The three roots are no labels: every
  protein of an aspect has its root, so it carries no information (its IA is 0).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from plmtransfer.errors import UserError
from plmtransfer.options import GO_ASPECTS as ASPECTS
from plmtransfer.options import GO_SUBSETS as SUBSETS

NAMESPACE_ASPECT = {"molecular_function": "MFO", "biological_process": "BPO", "cellular_component": "CCO"}
ROOTS = frozenset({"GO:0003674", "GO:0008150", "GO:0005575"})
PROPAGATING_RELATIONS = ("part_of",)
THRESHOLDS = np.round(np.arange(1, 101) / 100, 2)
ANNOTATION_COLUMNS = ("EntryID", "term", "aspect")


@dataclass
class Term:
    """One GO term: name, namespace and the parents that labels propagate to."""

    name: str
    namespace: str
    parents: set[str] = field(default_factory=set)


@dataclass
class Ontology:
    """The terms of an OBO file (obsolete ones left out) and alternative ids -> primary id."""

    terms: dict[str, Term]
    alternatives: dict[str, str]

    def primary(self, term: str) -> str | None:
        """The primary id of ``term`` (itself, or the term it is an ``alt_id`` of); None if unknown."""
        if term in self.terms:
            return term
        return self.alternatives.get(term)

    def ancestors(self, term: str) -> set[str]:
        """``term`` and every term reached from it through ``is_a`` and ``part_of``."""
        seen = {term}
        stack = [term]
        while stack:
            for parent in self.terms[stack.pop()].parents:
                if parent not in seen and parent in self.terms:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def propagate(self, terms: Iterable[str]) -> set[str]:
        """The union of the ancestors of ``terms`` (themselves included)."""
        closed: set[str] = set()
        for term in terms:
            if term not in closed:
                closed |= self.ancestors(term)
        return closed

    def aspect(self, term: str) -> str:
        """``MFO``, ``BPO`` or ``CCO`` of a term."""
        return NAMESPACE_ASPECT.get(self.terms[term].namespace, "")


def read_obo(path: str | os.PathLike) -> Ontology:
    """Parse the ``[Term]`` stanzas of an OBO file (``go-basic.obo``); obsolete terms are left out."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: ontology file (go-basic.obo) not found")
    terms: dict[str, Term] = {}
    alternatives: dict[str, str] = {}
    stanza: dict[str, list[str]] | None = None

    def finish() -> None:
        if stanza is None or "id" not in stanza or stanza.get("is_obsolete") == ["true"]:
            return
        term_id = stanza["id"][0]
        parents = {value.split("!")[0].strip() for value in stanza.get("is_a", [])}
        for value in stanza.get("relationship", []):
            relation, _, target = value.partition(" ")
            if relation in PROPAGATING_RELATIONS:
                parents.add(target.split("!")[0].strip())
        terms[term_id] = Term(stanza.get("name", [""])[0], stanza.get("namespace", [""])[0], parents)
        for alternative in stanza.get("alt_id", []):
            alternatives[alternative] = term_id

    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line.startswith("["):
                finish()
                stanza = {} if line == "[Term]" else None
            elif stanza is not None and ":" in line:
                key, _, value = line.partition(":")
                stanza.setdefault(key.strip(), []).append(value.strip())
    finish()
    if not terms:
        raise UserError(f"{path}: no [Term] stanzas: not an OBO ontology")
    return Ontology(terms, alternatives)


def read_annotations(path: str | os.PathLike, ontology: Ontology, subset: str = "all") -> dict[str, set[str]]:
    """CAFA 5 ``train_terms.tsv`` as ``{EntryID: propagated terms}`` for one subset (roots dropped).

    Rows of other aspects are left out before propagation; alternative ids map to their term;
    ids the ontology does not know are an error naming a few of them. An empty result is an
    error too.
    """
    path = Path(path)
    if subset not in SUBSETS:
        raise UserError(f"unknown --dataset_subset {subset!r}: use {', '.join(SUBSETS)}")
    if not path.is_file():
        raise UserError(f"{path}: annotation file (train_terms.tsv) not found")
    frame = pd.read_csv(path, sep="\t", dtype=str)
    missing = [column for column in ANNOTATION_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: needs tab-separated columns {', '.join(ANNOTATION_COLUMNS)}; missing {missing}")
    primary = frame["term"].map(ontology.primary)
    unknown = frame["term"][primary.isna()].unique()
    if len(unknown):
        raise UserError(f"{path}: {len(unknown)} GO id(s) not in the ontology (obsolete or from another GO "
                        f"release), e.g. {list(unknown[:5])}: use the go-basic.obo of the same release")
    namespace_aspect = primary.map(ontology.aspect)
    disagree = frame["aspect"] != namespace_aspect
    if disagree.any():
        example = frame[disagree].iloc[0]
        warnings.warn(f"{path}: {int(disagree.sum())} row(s) whose aspect column disagrees with the term's "
                      f"namespace in the ontology (e.g. {example['term']} marked {example['aspect']}, namespace "
                      f"{namespace_aspect[disagree].iloc[0] or 'unknown'}): each is filed under its namespace",
                      stacklevel=2)
    if subset != "all":
        keep = (namespace_aspect == ASPECTS[subset]).to_numpy()
        frame, primary = frame[keep], primary[keep]
    labels: dict[str, set[str]] = {}
    for entry, terms in primary.groupby(frame["EntryID"]):
        labels[str(entry)] = ontology.propagate(terms) - ROOTS
    labels = {entry: terms for entry, terms in labels.items() if terms}
    if not labels:
        raise UserError(f"{path}: no annotations left for --dataset_subset {subset} (aspect "
                        f"{ASPECTS.get(subset, 'any')})")
    return labels


def read_information_accretion(path: str | os.PathLike) -> dict[str, float]:
    """CAFA 5's ``IA.txt``: ``term<TAB>weight`` per line, no header."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: information-accretion file not found")
    frame = pd.read_csv(path, sep="\t", header=None, names=["term", "ia"], dtype={"term": str})
    weights = pd.to_numeric(frame["ia"], errors="coerce")
    if weights.isna().any() or frame.empty:
        raise UserError(f"{path}: expected lines 'GO:id<TAB>weight' with numeric weights")
    return dict(zip(frame["term"], weights.astype(float), strict=True))


def label_matrix(labels: Sequence[set[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """N x T boolean matrix: protein i has term j."""
    index = {term: j for j, term in enumerate(vocabulary)}
    matrix = np.zeros((len(labels), len(vocabulary)), dtype=bool)
    for i, terms in enumerate(labels):
        matrix[i, [index[term] for term in terms if term in index]] = True
    return matrix


def propagation_order(ontology: Ontology, vocabulary: Sequence[str]) -> list[tuple[int, list[int]]]:
    """``(term, its parents)`` as vocabulary indices, deepest terms first (children before parents).

    Depth is the longest ``is_a``/``part_of`` path to a root, so every child of a term comes
    before it. Parents outside the vocabulary are skipped (a vocabulary of propagated labels
    holds every non-root ancestor of its terms).
    """
    index = {term: j for j, term in enumerate(vocabulary)}
    depth: dict[str, int] = {}

    def depth_of(term: str) -> int:
        if term not in depth:
            parents = [parent for parent in ontology.terms[term].parents if parent in ontology.terms]
            depth[term] = 1 + max((depth_of(parent) for parent in parents), default=-1)
        return depth[term]

    ordered = sorted(vocabulary, key=lambda term: (-depth_of(term), index[term]))
    return [(index[term], sorted(index[parent] for parent in ontology.terms[term].parents if parent in index))
            for term in ordered]


def consistent_scores(scores: np.ndarray, order: Sequence[tuple[int, list[int]]]) -> np.ndarray:
    """Each term's score raised to the highest score of its descendants (N x T, a new array)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    for child, parents in order:
        if parents:
            scores[:, parents] = np.maximum(scores[:, parents], scores[:, [child]])
    return scores


@dataclass(frozen=True)
class FmaxResult:
    """The best F-measure, its threshold, and the share of proteins with a prediction there."""

    fmax: float
    threshold: float
    coverage: float


def fmax(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None,
         thresholds: np.ndarray = THRESHOLDS) -> FmaxResult:
    """CAFA's protein-centric Fmax of N x T ``scores`` against N x T boolean ``truth``.

    At each threshold t: a protein's precision is (weighted) true positives over (weighted)
    terms scored >= t, averaged over proteins with at least one such term; its recall is
    true positives over its (weighted) true terms, averaged over proteins whose true terms
    weigh more than 0. ``weights`` (one per term, e.g. information accretion) gives the
    weighted Fmax. A threshold with no covered protein has F = 0; with no annotated protein
    (e.g. none of the true terms has a weight) Fmax is NaN.
    """
    truth = np.asarray(truth, dtype=bool)
    weights = np.ones(truth.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    true_weight = truth.astype(np.float64) @ weights
    annotated = true_weight > 0
    if not annotated.any():
        return FmaxResult(math.nan, math.nan, 0.0)
    best = FmaxResult(0.0, float(thresholds[0]), 0.0)
    for threshold in thresholds:
        predicted = scores >= threshold
        predicted_weight = predicted.astype(np.float64) @ weights
        hits = (predicted & truth).astype(np.float64) @ weights
        covered = predicted_weight > 0
        if not covered[annotated].any():
            continue
        precision = float(np.mean(hits[covered & annotated] / predicted_weight[covered & annotated]))
        recall = float(np.mean(hits[annotated] / true_weight[annotated]))
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        if f > best.fmax:
            best = FmaxResult(f, float(threshold), float(np.mean(covered[annotated])))
    return best


def term_weights(vocabulary: Sequence[str], accretion: Mapping[str, float]) -> np.ndarray:
    """Information accretion of each vocabulary term (0 for terms the file does not list)."""
    return np.array([accretion.get(term, 0.0) for term in vocabulary], dtype=np.float64)
