"""How many jobs run at once and how many threads each gets, from the cores and the device."""

from __future__ import annotations

import os

from transcriber.setting_sections import WhisperSettings


def derive_parallelism(whisper: WhisperSettings, device: str, cores: int | None = None) -> tuple[int, int]:
    """(workers, cpu_threads): jobs at once and threads per job, unless configured."""
    cores = cores or os.cpu_count() or 1
    if device == "cuda":
        workers = whisper.workers or 2
    else:
        # Measured (bench/, 2 cores): 2 jobs x 1 thread gave 16% more throughput than 1 x 2,
        # because decoding, feature extraction and the Python loop around the model are serial.
        # Two threads per job keep single-job latency reasonable on bigger machines.
        # Fast mode is for the latency of long files: one-thread replicas, and each job is cut into
        # one part per replica, decoded at once (parts.py measures why).
        per_job = whisper.cpu_threads or (1 if whisper.fast_mode or cores <= 2 else 2)
        workers = whisper.workers or max(1, cores // per_job)
    threads = whisper.cpu_threads or max(1, cores // workers)
    return workers, threads


def wide_threads(whisper: WhisperSettings, device: str, *, workers: int, threads: int) -> int:
    """Threads of the one-replica copy a lone short job decodes on; 0 where there is none.

    Measured (tiny.en, 11 s, 2 cores): a lone job on one of two one-thread replicas takes 0.70 s,
    on a one-replica two-thread copy 0.41 s, and two jobs at once on the replicas 0.72 s. libgomp
    spins between parallel regions only while it runs no more threads than there are cores: two
    two-thread replicas made a lone job as slow as one thread (0.70 s). One-thread replicas start
    no extra threads, so the copy is only made beside them. Fast mode already cuts a job into one
    part per replica.
    """
    if device != "cpu" or whisper.fast_mode or whisper.wide_max_seconds <= 0 or threads != 1 or workers < 2:
        return 0
    return workers * threads
