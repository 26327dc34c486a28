"""`transcriber models list` and `transcriber models pull NAME`: the models here, and fetching one ahead of time."""

from __future__ import annotations

import sys

import click

from transcriber.cli.commands import Globals
from transcriber.settings import load_settings


@click.group()
def models() -> None:
    """Models installed here, and fetching one from the hub ahead of time."""


@models.command("list")
@click.pass_obj
def list_models_command(obj: Globals) -> None:
    """List the models found locally (name, where from, size, path) and the configured ones."""
    from transcriber.speech.models import list_models

    settings = load_settings(obj.config)
    found = list_models(settings.models_dir)
    names = {m["name"] for m in found}
    further = ", ".join(f"{n}{'' if n in names or '/' in n else ' (not installed)'}" for n in settings.whisper.models)
    out = sys.stdout
    out.write(f"models directory: {settings.models_dir}\nconfigured model: {settings.whisper.model}")
    out.write(f"; further models: {further}\n\n" if further else "\n\n")
    if not found:
        out.write("no models available locally\n")
    for model in found:
        out.write(f"{model['name']:<20} {model['source']:<11} {model.get('size', '-'):>9} {model['path']}\n")


@models.command("pull")
@click.argument("name")
@click.option("--force", is_flag=True, help="fetch again even if the models directory holds it")
@click.option("--revision", help="a hub branch, tag or commit (default: main)")
@click.pass_obj
def pull_command(obj: Globals, name: str, force: bool, revision: str | None) -> None:
    """Fetch model NAME (tiny, base, small, medium, large-v3, ... or owner/repo) from the hub into
    the models directory, checking every file against the hub's hashes. HF_ENDPOINT, HTTPS_PROXY
    and HF_HUB_OFFLINE=1 are honoured."""
    from transcriber.speech.pull import PullError, pull

    settings = load_settings(obj.config)
    try:
        placed = pull(name, settings.models_dir, force=force, revision=revision)
    except PullError as exc:
        click.echo(f"transcriber: models pull {name}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{name}: placed in {placed}")
