"""Snakemake's command line, with its scheduler's re-evaluation timers kept to one and a SIGTERM handler without a lock.

Snakemake (9.x) ends every pass of its job scheduler by starting a ``threading.Timer`` that
wakes the scheduler again one rate-limit timespan later (``--max-jobs-per-timespan``, 1 s by
default), and every wake-up is a pass. A pass that a finished job triggers therefore starts
one more timer chain, so the chains add up: after N finished jobs the scheduler wakes about
N times a second, and each wake-up checks the inputs of every ready job. In a 241-job driver
run this took 40% of a core after 90 jobs and kept growing (py-spy: ``job_selector`` ->
``update_input_sizes``), on a machine whose 2 cores were meant for the jobs. The timers are
also non-daemon threads, so the process waits for the last one before it exits.

Its SIGTERM handler (``JobScheduler.exit_gracefully``: finish the running jobs, start no more)
takes the scheduler's lock, which the scheduler's own loop holds while it collects finished jobs:
a SIGTERM that lands there waits for a lock its own interrupted frame holds, and Snakemake hangs
for good (seen under load: a driver killed with SIGTERM mid-sweep never exited).
:func:`stop_gracefully` asks the same without a lock.

:func:`main` replaces the timer start with one that keeps at most one timer pending (a pass
still comes within a timespan whenever jobs wait, which is what the timer is for) and makes it
a daemon, installs :func:`stop_gracefully`, then runs Snakemake's own ``main``. Without those
methods (another Snakemake version) Snakemake runs unchanged. The drivers and ``plmtransfer
run`` start Snakemake through :data:`COMMAND`.
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


def stop_gracefully(scheduler, *_signal) -> None:
    """SIGTERM: let the running jobs finish and start no more, as Snakemake's handler does, without its lock.

    A plain attribute store (atomic under the GIL); the loop reads it at its next pass, which a job's end or
    the wake-up that :func:`schedule_one_reevaluation` keeps pending brings within a timespan.
    """
    scheduler._user_kill = "graceful"


def patch_scheduler() -> bool:
    """Install :func:`schedule_one_reevaluation` and :func:`stop_gracefully` in Snakemake's scheduler;
    False where they do not apply."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    if not all(hasattr(JobScheduler, name) for name in ("_schedule_reevalutation", "exit_gracefully")):
        return False
    JobScheduler._schedule_reevalutation = schedule_one_reevaluation
    JobScheduler.exit_gracefully = stop_gracefully
    return True


def main() -> None:
    """Snakemake's command line with the scheduler patched."""
    patch_scheduler()
    from snakemake.cli import main as snakemake_main

    snakemake_main()


if __name__ == "__main__":
    main()
