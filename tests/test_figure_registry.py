"""The registry of results figures (:data:`plmtransfer.analysis.figures.FIGURES`) against what reads it:
``all_figures`` (the files it writes), ``scripts/plot.py`` (its subcommands) and ``docs/figures.md``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plmtransfer.analysis import figures, stats
from plmtransfer.cli import plot as plot_script
from tests.test_layer_analysis import swept_per_fold_frame
from tests.test_plot import curve_frame
from tests.test_stats import simulate

DOCS = Path(__file__).resolve().parents[1] / "docs" / "figures.md"
NOT_RESULTS_FIGURES = {"contacts", "all"}


def pattern(file: str) -> re.Pattern:
    """A registered file name (``model_size_<method>``) as a regex over written stems (pages allowed)."""
    parts = re.split(r"<[^>]+>", file)
    return re.compile(".+".join(map(re.escape, parts)) + r"(_page\d+)?")


def table_rows() -> dict[str, list[str]]:
    """docs/figures.md's figure table: first cell (the backquoted name) -> the backquoted files of the second."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].strip("`")] = re.findall(r"`([^`]+)`", cells[1])
    return rows


def test_every_registered_figure_has_its_row_in_the_docs():
    rows = table_rows()
    for name, figure in figures.FIGURES.items():
        assert rows.get(name) == list(figure.files), f"docs/figures.md: row of {name!r}"
    assert set(rows) - set(figures.FIGURES) == {"contacts"}


def test_plot_subcommands_are_the_registry_plus_contacts_and_all():
    parser = plot_script.create_parser()
    subcommands = next(action for action in parser._actions if action.dest == "command").choices
    assert set(subcommands) == set(figures.FIGURES) | NOT_RESULTS_FIGURES
    summary = " ".join(plot_script.__doc__.split())
    for name, figure in figures.FIGURES.items():
        assert f"{name} {figure.description}" in summary, f"plot.py's docstring on {name!r}"


def test_all_figures_draws_each_registered_figure_under_its_file_names(tmp_path):
    contrasts = stats.fit_contrasts(simulate(n_datasets=4), adjust="single-step").contrasts
    paths, notes = figures.all_figures(swept_per_fold_frame(), tmp_path,
                                       sampling=curve_frame(datasets=("PROT0_HUMAN_X", "PROT1_HUMAN_X")),
                                       contrast_tables={"forest_Compression_method_esm2_8M": contrasts})
    assert notes == []
    stems = {path.stem for path in paths}
    for name, figure in figures.FIGURES.items():
        for file in figure.files:
            assert any(pattern(file).fullmatch(stem) for stem in stems), f"{name}: no file {file}"
    registered = [pattern(file) for figure in figures.FIGURES.values() for file in figure.files]
    assert all(any(regex.fullmatch(stem) for regex in registered) for stem in stems)


@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_each_entry_says_what_it_needs_and_draws_with_its_function(name):
    figure = figures.FIGURES[name]
    assert figure.needs and figure.description and "\n" not in figure.description
    assert figure.draw.__module__ == figures.__name__ and figure.draw.__name__.endswith("_plot")
