"""The Snakemake entry point of the drivers: one pending scheduler wake-up, never holding the exit."""

from __future__ import annotations

import threading

import pytest

from plmtransfer.workflow.snakemake_main import COMMAND, patch_scheduler, schedule_one_reevaluation


class FakeScheduler:
    """What the wake-up touches of Snakemake's JobScheduler: the semaphore its loop waits on."""

    def __init__(self):
        self._open_jobs = threading.Semaphore(0)


def test_repeated_requests_keep_one_wake_up_pending():
    scheduler = FakeScheduler()
    for _ in range(5):
        schedule_one_reevaluation(scheduler, 0.2)
    assert scheduler._plmtransfer_reevaluation.daemon  # the process exits without waiting for it
    assert scheduler._open_jobs.acquire(timeout=5)
    assert not scheduler._open_jobs.acquire(timeout=0.5)  # one wake-up, not five
    schedule_one_reevaluation(scheduler, 0.01)  # once it has fired, the next request starts a new one
    assert scheduler._open_jobs.acquire(timeout=5)


def test_the_patch_applies_to_the_installed_snakemake(monkeypatch):
    job_scheduler = pytest.importorskip("snakemake.scheduling.job_scheduler")
    monkeypatch.setattr(job_scheduler.JobScheduler, "_schedule_reevalutation",
                        job_scheduler.JobScheduler._schedule_reevalutation)  # restored after the test
    assert patch_scheduler()
    assert job_scheduler.JobScheduler._schedule_reevalutation is schedule_one_reevaluation
    assert COMMAND[1:] == ["-m", "plmtransfer.workflow.snakemake_main"]
