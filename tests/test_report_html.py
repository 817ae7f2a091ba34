"""report.html: self-contained, every table and warning on the page, opened in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from plmtransfer.analysis import report
from tests.test_stats import write_tree

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Runs in the page after it loaded: how many images there are and which did not decode.
IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(image => !image.complete || image.naturalWidth === 0).map(image => image.alt);
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({images: images.length, broken: broken,
                                    widths: images.map(image => image.naturalWidth)});
  document.body.appendChild(out);
});
</script>"""


class PageParts(HTMLParser):
    """Collects the ``src`` of every ``<img>``, the ``href`` of every ``<a>`` and every ``<script>``."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes.get("src", ""))
        elif tag == "a":
            self.links.append(attributes.get("href", ""))
        elif tag == "script":
            self.scripts += 1


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, list[Path], list[str]]:
    """A report of a tiny tree: a random-weight test model and one-hot, three methods, two data sets."""
    root = tmp_path_factory.mktemp("report")
    results, metadata = write_tree(root, models=("esm2_t2_tiny_random", "onehot"))
    paths, notes = report.run_report(results, root / "stats", root / "figures", metadata_dir=metadata,
                                     sampling_dir=root / "absent")
    return paths[-1], paths, notes


def browser() -> str:
    """The headless browser's executable, or skip saying how to install one."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (as root: apt-get install chromium; .ci/run installs it)")


def run_browser(executable: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with no network, sync or first-run work."""
    command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_report_is_returned_last_and_self_contained(page):
    path, paths, notes = page
    assert path.name == "report.html" and path.is_file()
    parts = PageParts()
    parts.feed(path.read_text(encoding="utf-8"))
    pngs = [p for p in paths if p.suffix == ".png"]
    assert len(parts.images) == len(pngs) >= 5
    assert all(src.startswith("data:image/png;base64,") for src in parts.images)
    assert parts.scripts == 0
    assert parts.links and not [link for link in parts.links if re.match(r"[a-z]+:", link)]
    broken = [link for link in parts.links if not (path.parent / link).is_file()]
    assert not broken, broken
    assert {p.name for p in paths if p.suffix == ".csv"} <= {Path(link).name for link in parts.links}


def test_report_shows_warnings_configuration_and_versions(page):
    path, _, notes = page
    text = path.read_text(encoding="utf-8")
    box = re.search(r'<div class="warnings" id="warnings">(.*?)</div>', text, flags=re.S).group(1)
    assert "RANDOM weights" in box and "esm2_t2_tiny_random" in box
    assert "skipped learning curves" in box
    assert len(re.findall("<li>", box)) == len(notes)
    for needle in ("Summary by model and method", "Compression_method_onehot", "Data-set size",
                   "<th>response</th><td>R2_score_test</td>", "<th>scikit-learn</th>", "<th>plmtransfer</th>",
                   "2 data sets, 2 models, 3 methods"):
        assert needle in text, needle


@pytest.mark.ci_required
def test_report_renders_in_headless_chromium(page, tmp_path):
    """Every figure decodes in a real browser (naturalWidth > 0) and the screenshot shows them."""
    executable = browser()
    path = page[0]
    probe = path.with_name("report_probe.html")
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", IMAGE_CHECK + "</body>"),
                     encoding="utf-8")
    dumped = run_browser(executable, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom",
                         probe.as_uri())
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dumped.stdout)
    assert found, dumped.stderr[-2000:]
    check = __import__("json").loads(found.group(1).replace("&quot;", '"'))
    assert check["images"] >= 5 and check["broken"] == [], check
    assert min(check["widths"]) >= 400  # 200 dpi figures, several inches wide

    screenshot = Path(os.environ.get("PLMTRANSFER_REPORT_SCREENSHOT", tmp_path / "report.png"))
    shot = run_browser(executable, tmp_path / "profile-shot", "--hide-scrollbars", "--window-size=1200,12000",
                       f"--screenshot={screenshot}", path.as_uri())
    assert screenshot.is_file(), shot.stderr[-2000:]
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1200, 12000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # The warning box (orange) and the figures (Okabe-Ito blue, viridis) need many colours;
    # a page whose images failed would be text on white: a few hundred grey levels at most.
    assert colours is not None and len(colours) > 2000
    orange = sum(count for count, (r, g, b) in colours if r > 200 and 80 < g < 120 and b < 40)
    assert orange > 1000  # the warnings box's border is drawn


def test_the_title_names_the_data_sets_not_a_column(page):
    text = page[0].read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", text).group(1)
    assert title.startswith("Transfer learning from pLM embeddings: ") and "2 data sets" in title
    assert "R2_score_test" not in title and 'id="banner"' not in text  # real data names: no banner


def test_generated_data_get_a_banner(tmp_path):
    from plmtransfer.data.generated import GENERATED_BANNER

    results, metadata = write_tree(tmp_path, models=("onehot", "unirep64"))
    for path in list(results.rglob("*.csv")):  # the same tree, its data sets renamed as generated ones
        path.rename(path.with_name(f"EXAMPLE_generated_{path.name}"))
    paths, _ = report.run_report(results, tmp_path / "stats", tmp_path / "figures")
    text = paths[-1].read_text(encoding="utf-8")
    assert f'<div class="banner" id="banner">{GENERATED_BANNER}</div>' in text


def test_tables_show_no_negative_zero_and_state_constant_columns_once():
    import pandas as pd

    html_table = report._frame_table(pd.DataFrame({"level": ["a", "b"], "estimate": [-0.0, -1e-05],
                                                   "within": ["mean", "mean"]}))
    assert "<td>-0</td>" not in html_table and "<td>0</td>" in html_table and "<td>-1e-05</td>" in html_table
    assert "Every row: within = mean." in html_table and "<th>within</th>" not in html_table


def test_known_fit_warnings_are_explained():
    assert "variance component" in report.explain_fit_warning("The MLE may be on the boundary of the parameter space.")
    assert report.explain_fit_warning("something else") == ""


def warnings_and_facts(text: str) -> tuple[str, str]:
    """The warnings box and the facts list of a page."""
    box = re.search(r'<div class="(?:warnings|ok)" id="warnings">(.*?)</div>', text, flags=re.S).group(1)
    facts = re.search(r'<ul class="facts" id="facts">(.*?)</ul>', text, flags=re.S)
    return box, facts.group(1) if facts else ""


def test_design_choices_are_facts_and_the_baseline_is_named(tmp_path):
    """Learning curves not asked for are a fact, not a warning; the baseline is named once, as the study defines it."""
    results, metadata = write_tree(tmp_path, models=("esm2_150M", "onehot"))
    paths, notes = report.run_report(results, tmp_path / "stats", tmp_path / "figures", metadata_dir=metadata)
    box, facts = warnings_and_facts(paths[-1].read_text(encoding="utf-8"))
    assert "learning" not in box and not any("learning" in note for note in notes)
    assert "no figure learning_curves: learning curves were not asked for (no --sampling-dir)" in facts
    assert "Baseline: one-hot mean (baseline), the study&#x27;s one-hot definition" in facts  # no flat: PISCES' one-hot
    contrasts = __import__("pandas").read_csv(tmp_path / "stats" / "contrasts_Embedding_model_mean.csv")
    assert set(contrasts["reference_method"]) == {"mean"}


def test_lasso_convergence_is_explained_and_stopped_refits_warned(tmp_path):
    import pandas as pd

    results, metadata = write_tree(tmp_path, models=("esm2_150M", "onehot"))
    files = sorted(results.rglob("*.csv"))
    for index, path in enumerate(files):  # one outer fold of the first file stopped at max_iter
        frame = pd.read_csv(path)
        pd.concat([frame, pd.Series([index > 0 or fold > 1 for fold in range(1, len(frame) + 1)],
                                    name="converged")], axis=1).to_csv(path, index=False)
    folds = sum(len(pd.read_csv(path)) for path in files)
    paths, notes = report.run_report(results, tmp_path / "stats", tmp_path / "figures", metadata_dir=metadata)
    box, facts = warnings_and_facts(paths[-1].read_text(encoding="utf-8"))
    assert f"converged in {folds - 1} of {folds} outer folds (column converged of per_fold.csv)" in facts
    assert "tol=0.01, max_iter=1000" in facts and "small alphas at the end" in facts
    assert f"LassoCV: in 1 of {folds} outer folds the refit at the chosen alpha stopped at max_iter=1000" in box
    assert sum(note.startswith("LassoCV: in 1 of") for note in notes) == 1


def test_wide_table_headers_may_wrap():
    import pandas as pd

    html_table = report._frame_table(pd.DataFrame({"slope_per_log10_size": [0.1, 0.2], "n": [1, 2]}))
    assert "<th>slope_<wbr>per_<wbr>log10_<wbr>size</th>" in html_table and "<td>0.1</td>" in html_table


@pytest.mark.ci_required
def test_tables_fit_a_1100_px_page(page, tmp_path):
    """In a browser 1200 px wide (the page is 1100 px at most) no table scrolls sideways."""
    executable = browser()
    probe = page[0].with_name("report_width_probe.html")
    probe.write_text(page[0].read_text(encoding="utf-8").replace("</body>", """<script>
window.addEventListener("load", () => {
  const wide = Array.from(document.querySelectorAll(".scroll")).filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => box.querySelector("tr").textContent.slice(0, 60) + " " + box.scrollWidth + ">" + box.clientWidth);
  const out = document.createElement("pre");
  out.id = "width-check";
  out.textContent = JSON.stringify({tables: document.querySelectorAll(".scroll").length, wide: wide});
  document.body.appendChild(out);
});
</script></body>"""), encoding="utf-8")
    dumped = run_browser(executable, tmp_path / "profile", "--window-size=1200,4000", "--virtual-time-budget=10000",
                         "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="width-check">(.*?)</pre>', dumped.stdout)
    assert found, dumped.stderr[-2000:]
    check = __import__("json").loads(found.group(1).replace("&quot;", '"'))
    assert check["tables"] >= 4 and check["wide"] == [], check
