"""Snakemake's command line, with its scheduler's re-evaluation timers kept to one.

Snakemake (9.x) ends every pass of its job scheduler by starting a ``threading.Timer`` that
wakes the scheduler again one rate-limit timespan later (``--max-jobs-per-timespan``, 1 s by
default), and every wake-up is a pass. A pass that a finished job triggers therefore starts
one more timer chain, so the chains add up: after N finished jobs the scheduler wakes about
N times a second, and each wake-up checks the inputs of every ready job. In a 241-job driver
run this took 40% of a core after 90 jobs and kept growing (py-spy: ``job_selector`` ->
``update_input_sizes``), on a machine whose 2 cores were meant for the jobs. The timers are
also non-daemon threads, so the process waits for the last one before it exits.

:func:`main` replaces the timer start with one that keeps at most one timer pending (a pass
still comes within a timespan whenever jobs wait, which is what the timer is for) and makes it
a daemon, then runs Snakemake's own ``main``. Without that private method (another Snakemake
version) Snakemake runs unchanged. The drivers and ``plmtransfer run`` start Snakemake through
:data:`COMMAND`.
"""

from __future__ import annotations

import sys
import threading

COMMAND = [sys.executable, "-m", "plmtransfer.workflow.snakemake_main"]


def schedule_one_reevaluation(scheduler, delay: float) -> None:
    """Wake ``scheduler`` after ``delay`` seconds unless a wake-up is already pending."""
    pending = getattr(scheduler, "_plmtransfer_reevaluation", None)
    if pending is not None and pending.is_alive():
        return
    timer = threading.Timer(delay, scheduler._open_jobs.release)
    timer.daemon = True
    scheduler._plmtransfer_reevaluation = timer
    timer.start()


def patch_scheduler() -> bool:
    """Install :func:`schedule_one_reevaluation` in Snakemake's scheduler; False where it does not apply."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    if not hasattr(JobScheduler, "_schedule_reevalutation"):
        return False
    JobScheduler._schedule_reevalutation = schedule_one_reevaluation
    return True


def main() -> None:
    """Snakemake's command line with the scheduler patched."""
    patch_scheduler()
    from snakemake.cli import main as snakemake_main

    snakemake_main()


if __name__ == "__main__":
    main()
