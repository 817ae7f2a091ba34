"""GO terms: OBO parsing, propagation, subsets, Fmax by hand; the function caller's checkpoints and ranking."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from plmtransfer.backends.esm.featuriser import write_test_model
from plmtransfer.cli import predict_rank
from plmtransfer.errors import UserError
from plmtransfer.learn import function_caller, go_terms, trainable
from plmtransfer.learn.function_caller import CallerOptions
from plmtransfer.learn.trainable import TrainSettings

OBO = """format-version: 1.2

[Term]
id: GO:0003674
name: molecular_function
namespace: molecular_function

[Term]
id: GO:0003824
name: catalytic activity
namespace: molecular_function
is_a: GO:0003674 ! molecular_function

[Term]
id: GO:0016787
name: hydrolase activity
namespace: molecular_function
alt_id: GO:0099999
is_a: GO:0003824 ! catalytic activity

[Term]
id: GO:0005488
name: binding
namespace: molecular_function
is_a: GO:0003674 ! molecular_function

[Term]
id: GO:0005515
name: protein binding
namespace: molecular_function
is_a: GO:0005488 ! binding

[Term]
id: GO:0005575
name: cellular_component
namespace: cellular_component

[Term]
id: GO:0110165
name: cellular anatomical entity
namespace: cellular_component
is_a: GO:0005575 ! cellular_component

[Term]
id: GO:0005737
name: cytoplasm
namespace: cellular_component
is_a: GO:0110165 ! cellular anatomical entity

[Term]
id: GO:0005829
name: cytosol
namespace: cellular_component
is_a: GO:0110165 ! cellular anatomical entity
relationship: part_of GO:0005737 ! cytoplasm

[Term]
id: GO:0008150
name: biological_process
namespace: biological_process

[Term]
id: GO:0008152
name: metabolic process
namespace: biological_process
is_a: GO:0008150 ! biological_process
relationship: regulates GO:0005488 ! not propagated

[Term]
id: GO:0000001
name: obsolete thing
namespace: biological_process
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""

TERMS = """EntryID\tterm\taspect
P1\tGO:0016787\tMFO
P1\tGO:0005829\tCCO
P2\tGO:0005515\tMFO
P3\tGO:0008152\tBPO
P4\tGO:0099999\tMFO
P5\tGO:0005737\tCCO
P6\tGO:0005515\tMFO
P6\tGO:0016787\tMFO
"""

SEQUENCES = {"P1": "MKTAYIAKQRQISFVKSHFSRQ", "P2": "MSHHWGYGKHNGPEHWHKDFPIAK", "P3": "MALWMRLLPLLALLALWGPDPAAA",
             "P4": "MKVLAAGIVGLLLAAAC", "P5": "MDPNCSCAAGDSCTCAGSCKCKECKCTSCKKSCCSCCPVGCAKCSQGCICKGASDKCSCCA",
             "P6": "MTEYKLVVVGAGGVGKSALTIQLIQNHFV"}
MF = {"GO:0016787", "GO:0003824", "GO:0005515", "GO:0005488"}


@pytest.fixture
def cafa(tmp_path):
    """CAFA 5's layout: Train/train_sequences.fasta, Train/train_terms.tsv, Train/go-basic.obo."""
    train = tmp_path / "cafa" / "Train"
    train.mkdir(parents=True)
    (train / "go-basic.obo").write_text(OBO)
    (train / "train_terms.tsv").write_text(TERMS)
    (train / "train_sequences.fasta").write_text(
        "".join(f">{entry} 9606\n{sequence}\n" for entry, sequence in SEQUENCES.items()))
    (tmp_path / "cafa" / "IA.txt").write_text("GO:0016787\t2.0\nGO:0003824\t0.5\nGO:0005515\t1.5\n")
    return tmp_path / "cafa"


@pytest.fixture
def ontology(cafa):
    return go_terms.read_obo(cafa / "Train" / "go-basic.obo")


def test_obo_parents_are_is_a_and_part_of_only(ontology):
    assert "GO:0000001" not in ontology.terms  # obsolete
    assert ontology.terms["GO:0005829"].parents == {"GO:0110165", "GO:0005737"}
    assert ontology.terms["GO:0008152"].parents == {"GO:0008150"}  # 'regulates' is not followed
    assert ontology.terms["GO:0016787"].name == "hydrolase activity"
    assert ontology.primary("GO:0099999") == "GO:0016787"
    assert ontology.aspect("GO:0005829") == "CCO"


def test_propagation_follows_is_a_and_part_of(ontology):
    assert ontology.propagate(["GO:0005829"]) == {"GO:0005829", "GO:0005737", "GO:0110165", "GO:0005575"}
    assert ontology.propagate(["GO:0016787", "GO:0005515"]) == MF | {"GO:0003674"}


@pytest.mark.parametrize("subset, expected", [
    ("mf", {"P1": {"GO:0016787", "GO:0003824"}, "P2": {"GO:0005515", "GO:0005488"},
            "P4": {"GO:0016787", "GO:0003824"}, "P6": MF}),
    ("cc", {"P1": {"GO:0005829", "GO:0005737", "GO:0110165"}, "P5": {"GO:0005737", "GO:0110165"}}),
    ("bp", {"P3": {"GO:0008152"}}),
])
def test_subsets_keep_one_aspect_propagated_without_roots(cafa, ontology, subset, expected):
    assert go_terms.read_annotations(cafa / "Train" / "train_terms.tsv", ontology, subset) == expected


def test_all_is_the_union_of_the_aspects(cafa, ontology):
    labels = go_terms.read_annotations(cafa / "Train" / "train_terms.tsv", ontology, "all")
    assert labels["P1"] == {"GO:0016787", "GO:0003824", "GO:0005829", "GO:0005737", "GO:0110165"}
    assert sorted(labels) == ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_unknown_ids_and_empty_subsets_are_errors(tmp_path, ontology):
    path = tmp_path / "terms.tsv"
    path.write_text("EntryID\tterm\taspect\nP1\tGO:1234567\tMFO\nP2\tGO:0005515\tMFO\n")
    with pytest.raises(UserError, match=r"1 GO id\(s\) not in the ontology.*GO:1234567"):
        go_terms.read_annotations(path, ontology, "mf")
    path.write_text("EntryID\tterm\taspect\nP2\tGO:0005515\tMFO\n")
    with pytest.raises(UserError, match="no annotations left for --dataset_subset bp"):
        go_terms.read_annotations(path, ontology, "bp")
    path.write_text("protein\tterm\n")
    with pytest.raises(UserError, match="missing"):
        go_terms.read_annotations(path, ontology, "all")


SCORES = np.array([[0.9, 0.4, 0.6], [0.2, 0.1, 0.8], [0.95, 0.95, 0.95]])
TRUTH = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)  # the third protein has no annotation


def test_fmax_by_hand():
    # t in (0.2, 0.4]: A predicts all 3 (precision 2/3, recall 1), B predicts term 3 (1, 1):
    # P = 5/6, R = 1, F = 10/11; no other threshold does better; C (unannotated) does not count.
    result = go_terms.fmax(SCORES, TRUTH)
    assert result.fmax == pytest.approx(10 / 11)
    assert result.threshold == pytest.approx(0.21)
    assert result.coverage == 1.0


def test_weighted_fmax_by_hand():
    # weights 1, 3, 0.5; t in (0.2, 0.4]: A precision 4/4.5, recall 1; B 1, 1: P = 17/18, R = 1.
    result = go_terms.fmax(SCORES, TRUTH, np.array([1.0, 3.0, 0.5]))
    assert result.fmax == pytest.approx(34 / 35)
    assert result.threshold == pytest.approx(0.21)


def test_consistent_scores_lift_ancestors(ontology):
    vocabulary = ["GO:0003824", "GO:0005488", "GO:0005515", "GO:0016787"]
    order = go_terms.propagation_order(ontology, vocabulary)
    scores = go_terms.consistent_scores(np.array([[0.1, 0.2, 0.7, 0.3]]), order)
    np.testing.assert_allclose(scores, [[0.3, 0.7, 0.7, 0.3]])


# ----------------------------------------------------------------------------- the function caller


def quick(**changes) -> TrainSettings:
    values = dict(batch_size=2, gradient_accumulation_steps=2, num_epochs=4, learning_rate=1e-2, seed=5,
                  unfreeze_last_k_layers=1)
    values.update(changes)
    return TrainSettings(**values)


OPTIONS = CallerOptions(dataset_subset="mf", context_length=22, eval_interval=2, eval_ratio=0.25,
                        checkpoint_interval=2)


def test_checkpoint_and_resume_give_the_uninterrupted_weights(cafa, tiny_model, tmp_path, one_torch_thread,
                                                               monkeypatch, capsys):
    metrics = function_caller.train(cafa, str(tiny_model), quick(), OPTIONS, tmp_path / "whole.pt",
                                    tmp_path / "runs", ia_path=cafa / "IA.txt", log=lambda _: None)
    assert set(metrics) == {"loss", "fmax", "weighted_fmax"} and 0 <= metrics["fmax"] <= 1
    assert "truncated to their first 20 residues" in capsys.readouterr().err  # P5 and P6 are longer
    assert list((tmp_path / "runs").glob("events.out.tfevents.*"))

    real_save = function_caller.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(function_caller, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        function_caller.train(cafa, str(tiny_model), quick(), OPTIONS, tmp_path / "killed.pt", tmp_path / "runs2",
                              log=lambda _: None)
    monkeypatch.setattr(function_caller, "save_checkpoint", real_save)
    assert trainable.load_checkpoint(tmp_path / "killed.pt")["epoch"] == 2
    resumed = function_caller.train(cafa, str(tiny_model), quick(), OPTIONS, tmp_path / "killed.pt", tmp_path / "runs2",
                                    resume=True, ia_path=cafa / "IA.txt", log=lambda _: None)
    assert resumed == metrics
    whole = trainable.load_checkpoint(tmp_path / "whole.pt")
    killed = trainable.load_checkpoint(tmp_path / "killed.pt")
    assert whole["epoch"] == killed["epoch"] == 4
    assert whole["trainable"].keys() == killed["trainable"].keys()
    for name, value in whole["trainable"].items():
        torch.testing.assert_close(value, killed["trainable"][name], rtol=0, atol=0)


def test_resume_refuses_another_base_model(cafa, tiny_model, tmp_path, one_torch_thread):
    function_caller.train(cafa, str(tiny_model), quick(num_epochs=2), OPTIONS, tmp_path / "c.pt", tmp_path / "runs",
                          log=lambda _: None)
    other = write_test_model(tmp_path, "tiny", seed=1, name="esm2_t2_other_random")
    with pytest.raises(UserError, match="checkpoint is from base model 'esm2_t2_tiny_random'"):
        function_caller.train(cafa, str(other), quick(num_epochs=4), OPTIONS, tmp_path / "c.pt", tmp_path / "runs",
                              resume=True)
    with pytest.raises(UserError, match="checkpoint is from base model"):
        function_caller.load_caller(tmp_path / "c.pt", str(other))


@pytest.fixture
def trained(cafa, tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("caller") / "mf.pt"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    function_caller.train(cafa, str(tiny_model), quick(num_epochs=2), OPTIONS, path, path.parent / "runs",
                          log=lambda _: None)
    torch.set_num_threads(previous)
    return path


def test_top_k_is_ordered_consistent_and_named(trained, cafa, ontology):
    caller = function_caller.load_caller(trained)
    assert caller.vocabulary == sorted(MF)
    ranking = function_caller.rank(caller, [SEQUENCES["P1"], SEQUENCES["P2"]], top_k=3)
    for terms in ranking:
        probabilities = [probability for probability, _, _ in terms]
        assert len(terms) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert all(0 < p < 1 for p in probabilities)
        assert all(name == ontology.terms[term].name for _, term, name in terms)
    full = dict((term, p) for p, term, _ in function_caller.rank(caller, [SEQUENCES["P1"]], top_k=4)[0])
    assert full["GO:0003824"] >= full["GO:0016787"] and full["GO:0005488"] >= full["GO:0005515"]


def test_predict_rank_as_a_user_runs_it(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{SEQUENCES['P2']}\nNOT A SEQ!\n\n"))
    assert predict_rank.main(["--checkpoint_path", str(trained), "--top_k", "2"]) == 0
    out = capsys.readouterr()
    lines = out.out.replace("Enter a sequence: ", "").strip().splitlines()
    assert lines[0] == "Top 2 GO terms:"
    assert all(re.fullmatch(r"0\.\d{4}: GO:\d{7} [a-z ]+", line) for line in lines[1:3])
    assert "not amino acids" in out.err
    fasta = tmp_path / "query.fasta"
    fasta.write_text(f">q1 x\n{SEQUENCES['P1']}\n>q2\n{SEQUENCES['P5']}\n")
    assert predict_rank.main(["--checkpoint_path", str(trained), "--fasta", str(fasta), "--top_k", "3",
                              "-o", str(tmp_path / "ranks.csv")]) == 0
    import pandas as pd

    ranks = pd.read_csv(tmp_path / "ranks.csv")
    assert list(ranks.columns) == ["ID", "rank", "term", "name", "probability"]
    assert list(ranks["ID"]) == ["q1"] * 3 + ["q2"] * 3 and list(ranks["rank"]) == [1, 2, 3] * 2
    assert "truncated" in capsys.readouterr().err  # q2 is longer than the context of 22 tokens


def test_fmax_is_nan_when_no_true_term_weighs_anything():
    assert np.isnan(go_terms.fmax(SCORES, TRUTH, np.zeros(3)).fmax)


# ----------------------------------------------------------------------------- silent acceptances, the README's flags


def test_an_aspect_column_that_disagrees_with_the_namespace_is_counted_and_filed_by_namespace(tmp_path, ontology):
    path = tmp_path / "terms.tsv"
    # protein binding is a molecular function; the first two rows call it a cellular component
    path.write_text("EntryID\tterm\taspect\nP7\tGO:0005515\tCCO\nP8\tGO:0005515\tCCO\nP9\tGO:0005737\tCCO\n")
    with pytest.warns(UserWarning, match=r"2 row\(s\) whose aspect column disagrees.*GO:0005515 marked CCO, "
                      r"namespace MFO"):
        molecular = go_terms.read_annotations(path, ontology, "mf")
    assert molecular == {"P7": {"GO:0005515", "GO:0005488"}, "P8": {"GO:0005515", "GO:0005488"}}
    with pytest.warns(UserWarning, match="2 row"):
        assert go_terms.read_annotations(path, ontology, "cc") == {"P9": {"GO:0005737", "GO:0110165"}}


def test_sequences_without_annotation_are_counted(cafa, capsys):
    data = function_caller.load_cafa(cafa, OPTIONS)
    assert data.entries == ["P1", "P2", "P4", "P6"]  # P3 (a process) and P5 (a component) have no function
    assert "2 sequence(s) have no annotation of --dataset_subset mf and are left out" in capsys.readouterr().err


def test_a_repeated_entry_id_is_an_error(cafa):
    fasta = cafa / "Train" / "train_sequences.fasta"
    fasta.write_text(fasta.read_text() + f">P2 10090\n{SEQUENCES['P4']}\n")
    with pytest.raises(UserError, match=r"1 repeated EntryID\(s\), e.g. 'P2'"):
        function_caller.load_cafa(cafa, OPTIONS)


@pytest.mark.parametrize(("spelling", "subset"), [("biological_process", "bp"), ("molecular_function", "mf"),
                                                  ("cellular_component", "cc"), ("BPO", "bp"), ("mf", "mf"),
                                                  ("all", "all")])
def test_dataset_subset_takes_the_original_readmes_spellings(spelling, subset):
    from plmtransfer.cli import finetune_go

    assert finetune_go.create_parser().parse_args(["--dataset_subset", spelling]).dataset_subset == subset


def test_defaults_and_flags_of_the_original_readme(capsys):
    from plmtransfer.cli import finetune_go

    assert finetune_go.create_parser().parse_args([]).run_dir_path == "./runs/instruction-tune"
    assert predict_rank.create_parser().parse_args(["--seed", "7"]).seed == 7
    with pytest.raises(SystemExit):
        finetune_go.create_parser().parse_args(["--dataset_subset", "biology"])
    assert "invalid choice: 'biology'" in capsys.readouterr().err


def test_resume_without_a_checkpoint_starts_a_new_run(cafa, tiny_model, tmp_path, one_torch_thread):
    said = []
    fresh = function_caller.train(cafa, str(tiny_model), quick(num_epochs=2), OPTIONS, tmp_path / "new.pt",
                                  tmp_path / "runs", resume=True, log=said.append)
    assert any(f"--resume: no checkpoint at {tmp_path / 'new.pt'} yet: starting a new run" in line for line in said)
    assert trainable.load_checkpoint(tmp_path / "new.pt")["epoch"] == 2
    again = function_caller.train(cafa, str(tiny_model), quick(num_epochs=2), OPTIONS, tmp_path / "plain.pt",
                                  tmp_path / "runs2", log=lambda _: None)
    assert fresh == again
