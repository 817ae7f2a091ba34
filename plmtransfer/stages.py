"""The stage table: the one home of every stage's names (command, module, workflow step, docs page).

Read by the ``plmtransfer`` command (its subcommands), the study's scripts (``scripts/<module>.py``
are shims over :mod:`plmtransfer.cli`), the docs generator (``docs/stages/<page>.md``), the bash
drivers and the workflow (a workflow step is also the name of its ``results/`` and ``logs/``
folders and of its Snakemake targets, ``<step>_<SET>``). Imports nothing heavy, so that
``--help`` answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline (or one command beside it).

    ``command`` is the ``plmtransfer`` subcommand, ``module`` the module under
    :mod:`plmtransfer.cli` (and the study's script name ``scripts/<module>.py``), ``summary`` a
    one-line description, ``page`` the docs page under ``docs/stages/``. ``step`` is the name of
    the workflow step it runs as (``None`` for stages the workflow does not run) and
    ``step_summary`` that step's description for the drivers, with ``{units}``, ``{dataset}``
    and ``{set}`` filled per data-set family.
    """

    command: str
    module: str
    summary: str
    page: str
    step: str | None = None
    step_summary: str = ""

    @property
    def script(self) -> str:
        """The study's script path, relative to the repository: ``scripts/<module>.py``."""
        return f"scripts/{self.module}.py"

    @property
    def python_module(self) -> str:
        """The importable module holding the stage's ``create_parser()`` and ``main()``."""
        return f"plmtransfer.cli.{self.module}"


STAGES: tuple[Stage, ...] = (
    Stage("prepare-dms", "prepare_dms", "prepare DMS assays (metadata CSV + FASTA)", "prepare_dms"),
    Stage("prepare-pisces", "prepare_pisces", "prepare the PISCES chain set and targets", "prepare_pisces"),
    Stage("prepare-flip", "prepare_flip", "prepare FLIP's GB1 splits (metadata with train/test sets + FASTA)",
          "prepare_flip"),
    Stage("prepare-proteingym", "prepare_proteingym",
          "prepare ProteinGym substitution assays (DMS metadata with its folds + FASTA)", "prepare_proteingym"),
    Stage("prepare-csv", "prepare_csv", "prepare a plain CSV of sequences and a value (FASTA + metadata)",
          "prepare_csv"),
    Stage("extract", "extract",
          "extract embeddings (fair-esm's extract.py arguments; --pool to compress on the fly)", "extract",
          "extraction", "extract embeddings of each {units} for each model (scripts/extract.py)"),
    Stage("compress", "compress", "compress per-token embeddings into one vector per protein", "compress",
          "compression", "compress per-token embeddings of each {units} into one vector per protein "
          "(scripts/compress.py)"),
    Stage("regress", "reg_lassoCV", "cross-validated LassoCV on compressed embeddings", "regress",
          "lassoCV", "LassoCV regression (scripts/reg_lassoCV.py) per {dataset}, model and compression method"),
    Stage("sample", "reg_lassoCV_sampling", "learning curves: LassoCV on subsamples of growing size", "regress",
          "lassoCV_sampling", "learning curves: LassoCV on subsamples (scripts/reg_lassoCV_sampling.py) per "
          "{dataset}, model and method"),
    Stage("stats", "stats", "summaries, mixed-effects contrasts, the whole report", "stats",
          "stats", "mixed-effects statistics and figures over the {set} results (scripts/stats.py report)"),
    Stage("plot", "plot", "figures from result CSVs", "plot"),
    Stage("zero-shot", "zero_shot", "zero-shot variant scores from a model's own language-model head", "zero_shot"),
    Stage("finetune", "finetune", "fine-tune a model on a regression target in the study's folds", "finetune"),
    Stage("finetune-go", "finetune_go", "train the GO-term function caller", "finetune_go"),
    Stage("predict-rank", "predict_rank", "rank GO terms for sequences with a trained function caller",
          "predict_rank"),
    Stage("make-test-model", "make_test_model",
          "write a randomly initialised ESM-2 in the official checkpoint layout (tests only: no biology)",
          "test_model"),
)
BY_COMMAND = {stage.command: stage for stage in STAGES}
BY_MODULE = {stage.module: stage for stage in STAGES}
# The workflow's steps in the order they run (each also names its results/ and logs/ folders)
WORKFLOW_STEPS: tuple[Stage, ...] = tuple(stage for stage in STAGES if stage.step)
STEP_NAMES: tuple[str, ...] = tuple(stage.step for stage in WORKFLOW_STEPS)
BY_STEP = {stage.step: stage for stage in WORKFLOW_STEPS}
# Each workflow step by role, for the code that treats one specially (the workflow's rules, the drivers)
EXTRACT_STEP = BY_COMMAND["extract"].step
COMPRESS_STEP = BY_COMMAND["compress"].step
REGRESS_STEP = BY_COMMAND["regress"].step
# The learning-curve step: run only for data-set families with ``learning_curves: true``
LEARNING_CURVE_STEP = BY_COMMAND["sample"].step
STATS_STEP = BY_COMMAND["stats"].step
