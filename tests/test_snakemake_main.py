"""The Snakemake entry point of the drivers: one pending scheduler wake-up, never holding the exit,
and a SIGTERM that cannot deadlock on the scheduler's lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
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


STOP_WHILE_THE_LOCK_IS_HELD = textwrap.dedent("""
    import signal, threading
    from snakemake.scheduling.job_scheduler import JobScheduler
    from plmtransfer.workflow.snakemake_main import patch_scheduler

    assert patch_scheduler()

    class Scheduler:
        _lock = threading.Lock()
        _open_jobs = threading.Semaphore(0)
        _user_kill = None

    scheduler = Scheduler()
    signal.signal(signal.SIGTERM, JobScheduler.exit_gracefully.__get__(scheduler))  # as JobScheduler() does
    with scheduler._lock:  # where Snakemake's loop collects finished jobs
        signal.raise_signal(signal.SIGTERM)
        print("handled:", scheduler._user_kill)
    signal.raise_signal(signal.SIGTERM)  # the driver's forwarded copy of a process-group kill
    print("again:", scheduler._user_kill)
""")


def test_a_sigterm_while_the_scheduler_holds_its_lock_asks_it_to_stop():
    """Snakemake's own handler would wait for the lock its interrupted frame holds (the test then times out)."""
    pytest.importorskip("snakemake.scheduling.job_scheduler")
    completed = subprocess.run([sys.executable, "-c", STOP_WHILE_THE_LOCK_IS_HELD], capture_output=True, text=True,
                               timeout=20)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["handled: graceful", "again: graceful"]
