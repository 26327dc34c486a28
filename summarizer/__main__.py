"""`python -m summarizer`: run the arq summarization worker, or check its health (--check)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

from arq.connections import RedisSettings, create_pool
from arq.constants import default_queue_name, health_check_key_suffix
from arq.worker import run_worker
from redis.exceptions import RedisError

from summarizer.config import load_summarizer_settings
from summarizer.worker import STOP_KEY, redis_settings_for, worker_settings

log = logging.getLogger(__name__)


async def _health(redis_settings: RedisSettings) -> int:
    # No reconnect retries here: a liveness probe must answer fast, not ride out an outage.
    quick = dataclasses.replace(redis_settings, conn_retries=0, retry=None, retry_on_error=None)
    try:
        redis = await create_pool(quick)
    except (OSError, RedisError) as exc:
        log.error("health check failed: cannot reach Redis: %s", exc)
        return 1
    try:
        beat = await redis.get(default_queue_name + health_check_key_suffix)
    finally:
        await redis.aclose()
    if not beat:
        log.error("health check failed: no worker has reported in the last interval")
        return 1
    log.info("health check successful: %s", beat.decode(errors="replace"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m summarizer", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker is alive, 1 if not (like arq --check)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_summarizer_settings(os.environ)
    except ValueError as exc:
        log.error("bad summarizer configuration: %s", exc)
        return 2
    if args.check:
        return asyncio.run(_health(redis_settings_for(settings.redis_url)))
    options = worker_settings(settings)
    try:
        run_worker(options)
    except (RedisError, OSError) as exc:
        if not options.ctx[STOP_KEY].stopping:
            raise
        # Redis went away while we stopped: the health-check key expires by itself, and a job we
        # had taken is handed out again once its lock expires (the task is idempotent).
        log.warning("stopped without reaching Redis (%s)", type(exc).__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
