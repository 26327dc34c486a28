"""The command line (click) and its output (rich): the client commands. `models` (cli/model_commands.py)
and `serve` are added by transcriber.__main__, `serve` next to the server start-up it runs."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from transcriber.cli.sources import Source, SourceType
from transcriber.settings import load_settings

if TYPE_CHECKING:  # the client side (aiohttp, rich) is imported by the commands that use it,
    # so `serve` starts loading the model without waiting for them
    from transcriber.cli.client import ApiClient

DEFAULT_URL = "http://localhost:8002"
FORMATS = ("txt", "srt", "vtt", "json")
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
STATUS_FIELDS = [
    "job_id",
    "status",
    "progress",
    "queue_position",
    "eta_seconds",
    "created_at",
    "started_at",
    "finished_at",
    "duration",
    "language",
    "attempts",
]
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Globals:
    config: Path | None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config", type=click.Path(path_type=Path), help="config file (default: $TRANSCRIBER_CONFIG or ./config.toml)"
)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Self-hosted speech transcription service."""
    ctx.obj = Globals(config)


def server_options(command: F) -> F:
    """--server and --api-key, from TRANSCRIBE_SERVER_URL and TRANSCRIBER_API_KEY by default."""
    command = click.option(
        "--api-key", envvar="TRANSCRIBER_API_KEY", show_envvar=True, help="API key (Authorization: Bearer)"
    )(command)
    return click.option(
        "--server",
        envvar="TRANSCRIBE_SERVER_URL",
        default=DEFAULT_URL,
        show_default=True,
        show_envvar=True,
        help="the server's base URL",
    )(command)


def run(server: str, api_key: str | None, work: Callable[[ApiClient], Coroutine[Any, Any, T]]) -> T:
    """Run one client coroutine; a ClientError becomes one line on stderr and exit status 1."""
    from transcriber.cli.client import ApiClient, ClientError

    async def main() -> T:
        async with ApiClient(server, api_key or None) as api:
            return await work(api)

    try:
        return asyncio.run(main())
    except ClientError as exc:
        click.echo(f"transcriber: error: {exc}", err=True)
        click.get_current_context().exit(1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=SourceType())
@click.option("--language", default="auto", show_default=True, help="ISO 639-1 code, or auto to detect")
@click.option("--task", type=click.Choice(["transcribe", "translate"]), default="transcribe", show_default=True)
@click.option("--word-timestamps", is_flag=True, help="word-level timestamps in json, srt and vtt")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="txt", show_default=True)
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), help="save <DIR>/<file stem>.<format>")
@click.option("--no-wait", is_flag=True, help="print the job ids and return without waiting")
@click.option("--job-id", help="your id for the job (one file only)")
@click.option("--callback-url", help="URL to notify (signed webhook) when the job ends")
@click.option("--diarize", is_flag=True, help="tell the speakers of a mono recording apart (S1, S2, ...)")
@click.option("--min-speakers", type=click.IntRange(1, 16), help="with --diarize: at least this many speakers")
@click.option("--max-speakers", type=click.IntRange(1, 16), help="with --diarize: at most this many speakers")
@server_options
def submit(
    files: tuple[Source, ...],
    fmt: str,
    output: Path | None,
    no_wait: bool,
    server: str,
    api_key: str | None,
    **fields: Any,
) -> None:
    """Upload FILE... (or have the server fetch URL...) and print or save the transcripts."""
    from rich.console import Console

    from transcriber.cli.submit import Submission, SubmitRequest, deliver

    if fields["job_id"] and len(files) > 1:
        raise click.UsageError("--job-id names one job; give one file with it")
    stems = [f.stem for f in files]
    if output is not None and len(set(stems)) < len(stems):
        raise click.UsageError(f"two files would both be saved as {output}/<stem>.{fmt}; submit them separately")
    fields["word_timestamps"] = "true" if fields["word_timestamps"] else "false"
    fields["diarize"] = "true" if fields["diarize"] else ""
    request = SubmitRequest(files, {k: str(v) for k, v in fields.items() if v}, fmt, output, not no_wait)
    console = Console(stderr=True)
    outcomes = run(server, api_key, lambda api: Submission(api, request, console).run())
    click.get_current_context().exit(deliver(outcomes, request))


@cli.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="print the status body as JSON")
@server_options
def status(job_id: str, as_json: bool, server: str, api_key: str | None) -> None:
    """Show one job's status."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    body = run(server, api_key, lambda api: api.request("GET", f"/status/{job_id}"))
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    table = Table.grid(padding=(0, 2))
    for name in STATUS_FIELDS:
        if body.get(name) is not None:
            table.add_row(name.replace("_", " "), Text(_show(name, body[name])))
    if body.get("error"):
        table.add_row("error", Text(f"{body['error']['message']} ({body['error']['code']})"))
    summary = body.get("summary") or {}
    table.add_row("summary", Text(str(summary.get("status"))))
    console = Console()
    console.print(table)
    if body.get("text"):
        console.print(Text(body["text"].strip()), soft_wrap=True)


def _show(name: str, value: Any) -> str:
    if name == "progress":
        return f"{float(value):.0%}"
    if name in ("duration", "eta_seconds"):
        return f"{float(value):.1f} s"
    return str(value)


@cli.command()
@click.option("--status", "state", type=click.Choice(STATUSES), help="only jobs in this state")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the page as JSON")
@server_options
def jobs(state: str | None, limit: int, as_json: bool, server: str, api_key: str | None) -> None:
    """List jobs, newest first."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    params = {"limit": str(limit), **({"status": state} if state else {})}
    page = run(server, api_key, lambda api: api.request("GET", "/jobs", params=params))
    if as_json:
        click.echo(json.dumps(page, indent=2, ensure_ascii=False))
        return
    table = Table("job", "status", "progress", "duration", "language", "created", "summary")
    table.columns[0].no_wrap = True
    for job in page["jobs"]:
        table.add_row(
            Text(job["job_id"]),
            job["status"],
            f"{job['progress']:.0%}",
            f"{job['duration']:.1f} s",
            job.get("language") or "",
            job["created_at"],
            (job.get("summary") or {}).get("status") or "",
        )
    Console(width=200 if not sys.stdout.isatty() else None).print(table)


@cli.command()
@click.argument("job_id")
@server_options
def cancel(job_id: str, server: str, api_key: str | None) -> None:
    """Cancel a queued or running job."""
    body = run(server, api_key, lambda api: api.request("POST", f"/jobs/{job_id}/cancel"))
    if body["status"] == "cancelled":
        click.echo(f"job {job_id}: cancelled")
    else:
        click.echo(f"job {job_id}: cancellation requested; it stops after its current segment")


@cli.command()
@click.option("--older-than", type=click.FloatRange(min=0), metavar="DAYS", help="default: [retention] keep_days")
@click.pass_obj
def prune(obj: Globals, older_than: float | None) -> int:
    """Remove finished jobs older than DAYS (run where the server runs)."""
    from transcriber.jobs.retention import prune_command

    return asyncio.run(prune_command(load_settings(obj.config), older_than, sys.stdout))


@cli.command()
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--language", help="ISO 639-1 code (default: the server detects it)")
@click.option("--rate", type=click.Choice(["24000", "16000"]), default="24000", show_default=True, help="PCM rate")
@click.option("--speed", type=click.FloatRange(0.1, 20), default=1.0, show_default=True, help="times real speed")
@server_options
def live(source: Path, language: str | None, rate: str, speed: float, server: str, api_key: str | None) -> None:
    """Transcribe SOURCE live, printing text as it is recognized: a file streamed at real speed,
    or - for raw PCM16 mono (little-endian, --rate) on stdin."""
    from transcriber.cli import live as streaming

    hz = int(rate)

    def out(text: str) -> None:
        click.echo(text, nl=False)

    async def main() -> None:
        if str(source) == "-":
            audio = streaming.stdin_pcm(hz)
        else:
            audio = streaming.paced(await asyncio.to_thread(streaming.file_pcm, source, hz), hz, speed)
        await streaming.transcribe_live(server, api_key, audio, streaming.session_update(hz, language), out)

    try:
        asyncio.run(main())
    except (streaming.LiveError, aiohttp_errors()) as exc:
        raise click.ClickException(str(exc)) from None


def aiohttp_errors() -> type[Exception]:
    import aiohttp

    return aiohttp.ClientError
