"""Entry point: run the command line (transcriber.cli); `serve` starts the server, defined here."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import sys
from collections.abc import Sequence

import click

from transcriber.cli.commands import Globals, cli
from transcriber.cli.model_commands import models
from transcriber.setting_sections import SettingsError
from transcriber.settings import load_settings

M_ARENA_MAX = -8  # glibc's mallopt parameter number
cli.add_command(models)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="transcriber", standalone_mode=False)
    except SettingsError as exc:
        sys.stderr.write(f"transcriber: configuration error: {exc}\n")
        return 2
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        return 130
    return int(result or 0)


@cli.command()
@click.option("--host", help="listen address (overrides TRANSCRIBE_SERVER_HOST)")
@click.option("--port", type=int, help="listen port (overrides TRANSCRIBE_SERVER_PORT)")
@click.pass_obj
def serve(obj: Globals, host: str | None, port: int | None) -> int:
    """Run the HTTP server."""
    # _serve keeps its argparse-style argument so the server start-up below stays as it was.
    return _serve(argparse.Namespace(config=obj.config, host=host, port=port))


def _serve(args: argparse.Namespace) -> int:
    from transcriber.jobs.owners import secrets_of
    from transcriber.logs import configure_logging

    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format, secrets=secrets_of(settings.server))
    _limit_malloc_arenas()
    from transcriber.speech.loader import EngineLoader
    from transcriber.store.datalock import DataDirBusy, DataDirLock

    # SQLite: this process owns the data directory; PostgreSQL: servers may share it.
    lock = DataDirLock(settings.data_dir, shared=bool(settings.database.url))
    try:
        lock.acquire()
    except DataDirBusy as exc:
        sys.stderr.write(f"transcriber: {exc}\n")
        return 2
    # Start loading the model now, so it overlaps the web stack's imports: a faster cold start.
    loader = EngineLoader(settings)
    loader.start()
    from transcriber.web.server import exit_without_stuck_threads, serve

    # The GIL passes every 1 ms instead of 5: a request on the loop waits less behind a thread
    # converting rows or a worker's Python between decodes.
    sys.setswitchinterval(0.001)
    code = asyncio.run(serve(settings, loader, host=args.host, port=args.port))
    exit_without_stuck_threads(code)  # returns only when no worker thread is left behind
    return code


def _limit_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena; with worker and I/O threads that pins memory
    that is free but never returned (measured: an hour in fast mode peaked ~70 MiB lower)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


if __name__ == "__main__":
    sys.exit(main())
