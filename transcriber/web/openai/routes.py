"""OpenAI-compatible routes: /v1/audio/transcriptions, /v1/audio/translations and /v1/models.

Each request becomes an ordinary job (same upload path, queue and /jobs listing) and is answered
when that job finishes. If the client goes away first, the job is not cancelled: it runs to the
end and stays in /jobs with its results. A client that wants to find it again sends its own
`X-Job-Id` header (sending the same request again then waits on the same job instead of starting
a new one); every answer after acceptance carries the job's id in `x-job-id`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from transcriber.domain.job import Job, JobStatus
from transcriber.errors import ServiceError
from transcriber.events.waiters import Waiters, WaitTimeout
from transcriber.jobs import upload_files
from transcriber.outputs.results import result_path
from transcriber.web import handlers, keys, uploads
from transcriber.web.openai import formats, known_speakers, streaming
from transcriber.web.openai.errors import NO_RETRY, PREFIX, OpenAIError, error_response, invalid_param

log = logging.getLogger(__name__)
MODEL_ALIAS = "whisper-1"
OWNER = "transcriber"
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("segment", "word")
GRANULARITY_FIELDS = ("timestamp_granularities[]", "timestamp_granularities")
JOB_ID_HEADER = "X-Job-Id"
MAX_WAIT_SECONDS = 6 * 3600.0  # past this the request gives up waiting; the job itself goes on
TEXT_TYPE = "text/plain"
COMMON_FIELDS = ("model", "prompt", "temperature", "response_format", "stream")
# Exactly the fields OpenAI's API documents for each route: anything else is a 400, as there.
TRANSCRIPTION_FORM = uploads.FormFields(
    text=(*COMMON_FIELDS, "language"),
    repeated=(*GRANULARITY_FIELDS, *known_speakers.FIELDS),
    large=(known_speakers.REFERENCES,),
)
TRANSLATION_FORM = uploads.FormFields(text=COMMON_FIELDS)


@dataclass(frozen=True)
class AudioRequest:
    """What the client asked for besides the job itself."""

    task: str
    response_format: str
    granularities: frozenset[str]
    stream: bool = False  # stream=true: SSE text deltas (streaming.py)


def model_names(app: web.Application) -> tuple[str, ...]:
    """whisper-1 (the default model), the default model's name and the further models'."""
    return (MODEL_ALIAS, *app[keys.SCHEDULER].models.names())


def _model_object(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": OWNER}


def _unknown_model(name: str) -> OpenAIError:
    message = f"The model '{name[:100]}' does not exist or you do not have access to it."
    return OpenAIError(404, message, code="model_not_found", param="model")


async def list_models(request: web.Request, *, created: int) -> web.Response:
    data = [_model_object(name, created) for name in dict.fromkeys(model_names(request.app))]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request, *, created: int) -> web.Response:
    name = request.match_info["model"]
    if name not in model_names(request.app):
        raise _unknown_model(name)
    return web.json_response(_model_object(name, created))


async def transcriptions(request: web.Request) -> web.StreamResponse:
    return await _audio(request, "transcribe", TRANSCRIPTION_FORM)


async def translations(request: web.Request) -> web.StreamResponse:
    return await _audio(request, "translate", TRANSLATION_FORM)


async def _audio(request: web.Request, task: str, form: uploads.FormFields) -> web.StreamResponse:
    """Receive the upload as a job, wait for it to finish, answer in the requested format."""
    app, models, given_id = request.app, model_names(request.app), request.headers.get(JOB_ID_HEADER)

    def prepare(upload: upload_files.Upload) -> AudioRequest:
        wanted = parse_request(upload, task, models)
        upload.fields = job_fields(upload, task, wanted, given_id)
        return wanted

    _, job, wanted = await handlers.accept_upload(request, prepare, form)
    job_id = job.job_id
    if wanted.stream:
        return await streaming.stream(request, job_id)
    try:
        response = await _answer(app, job_id, wanted)
    except (ServiceError, OpenAIError) as exc:
        response = error_response(exc)
        response.headers[NO_RETRY] = "false"  # the job exists: a retry would transcribe the file again
    response.headers[JOB_ID_HEADER] = job_id
    if request.transport is None or request.transport.is_closing():
        log.info("job %s: the client left before the answer; the job stays in /jobs", job_id, extra={"job_id": job_id})
    return response


async def _answer(app: web.Application, job_id: str, wanted: AudioRequest) -> web.Response:
    try:
        job = await app[keys.WAITERS].finished(app[keys.JOBS].get, job_id, MAX_WAIT_SECONDS)
    except WaitTimeout:
        message = f"Job {job_id} is still in progress; follow it at /status/{job_id}."
        raise OpenAIError(504, message, code="timeout") from None
    if job.status == JobStatus.FAILED:
        raise OpenAIError(500, f"Transcription failed: {job.error_message or job.error_code}.", code="job_failed")
    if job.status == JobStatus.CANCELLED:
        raise OpenAIError(409, f"Job {job_id} was cancelled before it finished.", code="job_cancelled")
    return await render(app[keys.SETTINGS].data_dir, job, wanted)


async def render(data_dir: Path, job: Job, wanted: AudioRequest) -> web.Response:
    """The completed job's result in the requested response_format."""
    job_id, fmt = job.job_id, wanted.response_format
    if fmt in ("srt", "vtt"):
        text = await asyncio.to_thread(result_path(data_dir, job_id, fmt).read_text, encoding="utf-8")
        return web.Response(text=text, content_type=TEXT_TYPE, charset="utf-8")
    raw = await asyncio.to_thread(result_path(data_dir, job_id, "json").read_text, encoding="utf-8")
    document: dict[str, Any] = json.loads(raw)
    if fmt == "text":
        return web.Response(text=formats.text_body(document), content_type=TEXT_TYPE, charset="utf-8")
    if fmt == "json":
        return web.json_response(formats.json_body(document))
    if fmt == "diarized_json":
        return web.json_response(formats.diarized_body(document, wanted.task))
    return web.json_response(formats.verbose_body(document, wanted.task, wanted.granularities))


def parse_request(upload: upload_files.Upload, task: str, models: tuple[str, ...]) -> AudioRequest:
    """Check the OpenAI fields (model, response_format, temperature, stream, granularities)."""
    fields = upload.fields
    model = fields.get("model", "").strip()
    if not model:
        raise invalid_param("You must provide a model parameter.", "model", code="missing_model")
    if model not in models:
        raise _unknown_model(model)
    fmt = fields.get("response_format", "").strip() or "json"
    if fmt not in RESPONSE_FORMATS:
        raise invalid_param(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}.", "response_format")
    _check_temperature(fields.get("temperature", "").strip())
    stream = fields.get("stream", "").strip().lower()
    if stream not in ("", "false", "true") or (stream == "true" and task != "transcribe"):
        raise invalid_param("stream must be true or false (true only for transcriptions).", "stream")
    granularities = _granularities(upload.lists)
    if fmt != "diarized_json" and any(upload.lists.get(name) for name in known_speakers.FIELDS):
        raise invalid_param("known_speaker_names[] needs response_format=diarized_json.", "known_speaker_names[]")
    if granularities and fmt != "verbose_json":
        raise invalid_param(
            "timestamp_granularities[] is only supported with response_format=verbose_json.",
            "timestamp_granularities[]",
        )
    return AudioRequest(task, fmt, frozenset(granularities or ("segment",)), stream == "true")


def _check_temperature(value: str) -> None:
    """Accepted for compatibility; decoding uses the server's beam search and fallback schedule."""
    if not value:
        return
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise invalid_param("temperature must be a number from 0 to 1.", "temperature")


def _granularities(lists: dict[str, list[str]]) -> list[str]:
    values = [v.strip() for name in GRANULARITY_FIELDS for v in lists.get(name, [])]
    for value in values:
        if value not in GRANULARITIES:
            raise invalid_param(
                f"timestamp_granularities[] must be 'segment' or 'word', not {value[:40]!r}.",
                "timestamp_granularities[]",
            )
    return values


def job_fields(upload: upload_files.Upload, task: str, wanted: AudioRequest, job_id: str | None) -> dict[str, str]:
    """The /transcribe form fields this request amounts to."""
    fields = {"task": task, "word_timestamps": "true" if "word" in wanted.granularities else "false"}
    if (model := upload.fields.get("model", "").strip()) != MODEL_ALIAS:
        fields["model"] = model
    if wanted.response_format == "diarized_json":
        fields["diarize"] = "true"
        if known := known_speakers.voices(upload.lists):
            fields["known_voices"] = json.dumps(known)
    for ours, theirs in (("language", "language"), ("initial_prompt", "prompt")):
        if value := upload.fields.get(theirs):
            fields[ours] = value
    if job_id is not None:
        fields["job_id"] = job_id
    return fields


def _install_waiters(app: web.Application) -> None:
    """Listen to the app's change feed; wake every waiter when shutdown begins instead of holding it up."""
    waiters = Waiters()
    app[keys.WAITERS] = waiters
    app[keys.CHANGES].subscribe(waiters.job_changed)

    async def stopping(app: web.Application) -> None:
        waiters.stop()

    app.on_shutdown.append(stopping)


def add_routes(app: web.Application) -> None:
    _install_waiters(app)
    created = int(time.time())  # the models' `created`: when this server started
    app.router.add_post(f"{PREFIX}/audio/transcriptions", transcriptions)
    app.router.add_post(f"{PREFIX}/audio/translations", translations)
    app.router.add_get(f"{PREFIX}/models", functools.partial(list_models, created=created))
    app.router.add_get(f"{PREFIX}/models/{{model}}", functools.partial(get_model, created=created))
