"""Shared pytest fixtures (the tiny random test model, the offline data mirror) and the skip log.

With ``PLMTRANSFER_SKIP_LOG=<file>`` every skipped test is appended to that file as
``required|optional<TAB>node id<TAB>reason`` (``required`` = marked ``ci_required``), so
``.ci/run`` can count the skips and fail when a test CI must run was skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plmtransfer.backends.esm import write_test_model

REPO_ROOT = Path(__file__).resolve().parents[1]
MIRROR_ENV = "PLMTRANSFER_MIRROR"
SKIP_LOG_ENV = "PLMTRANSFER_SKIP_LOG"


def pytest_runtest_logreport(report):
    """Append a skipped test (not an expected failure) to ``$PLMTRANSFER_SKIP_LOG``."""
    log = os.environ.get(SKIP_LOG_ENV)
    if not log or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    kind = "required" if "ci_required" in report.keywords else "optional"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{kind}\t{report.nodeid}\t{' '.join(str(reason).split())}\n")


def mirror_root() -> Path:
    """The offline data mirror: ``$PLMTRANSFER_MIRROR`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get(MIRROR_ENV, REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may touch the network: model names never trigger a download."""
    monkeypatch.setenv("PLMTRANSFER_OFFLINE", "1")


@pytest.fixture
def one_torch_thread():
    """One torch thread: tiny-model ops on a shared 2-core machine slow down badly with more."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a tiny random ESM-2 (2 layers, dim 32) in the official checkpoint layout."""
    return write_test_model(tmp_path_factory.mktemp("models"), "tiny", seed=0)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The offline data mirror; tests using it are skipped with a reason when it is absent."""
    root = mirror_root()
    if not (root / "dms").is_dir():
        pytest.skip(f"offline data mirror not found at {root} (set {MIRROR_ENV} to use one)")
    return root
