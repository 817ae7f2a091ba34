"""Shared pytest fixtures (the tiny random test model, the offline data mirror) and the test log for CI.

With ``PLMTRANSFER_TEST_LOG=<file>`` every skipped test, and every passed test marked
``ci_required``, is appended to that file as ``skipped|passed<TAB>required|optional<TAB>node
id<TAB>reason``, so ``.ci/run`` can list what CI must run, count the skips, and fail when a
required test was skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from plmtransfer.backends.esm.featuriser import write_test_model

REPO_ROOT = Path(__file__).resolve().parents[1]
MIRROR_ENV = "PLMTRANSFER_MIRROR"
TEST_LOG_ENV = "PLMTRANSFER_TEST_LOG"


def pytest_runtest_logreport(report):
    """Append a skipped test (not an expected failure) or a passed ``ci_required`` test to the log.

    Under pytest-xdist the controller receives every worker's reports and writes them; a worker
    (``PYTEST_XDIST_WORKER`` set) writes nothing, so no line is written twice.
    """
    log = os.environ.get(TEST_LOG_ENV)
    required = "ci_required" in report.keywords
    if not log or os.environ.get("PYTEST_XDIST_WORKER") or hasattr(report, "wasxfail"):
        return
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    elif report.passed and report.when == "call" and required:
        reason = ""
    else:
        return
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{report.outcome}\t{'required' if required else 'optional'}\t{report.nodeid}\t"
                     f"{' '.join(str(reason).split())}\n")


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
