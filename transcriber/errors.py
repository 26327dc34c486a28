"""Domain errors: what went wrong, with a stable code. The HTTP mapping lives in web.error_mapping."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Every error code a client can see, in one place (the `code` of the JSON error shape)."""

    AUDIO_NOT_FOUND = "audio_not_found"
    AUDIO_TOO_LONG = "audio_too_long"
    CLIENT_CLOSED = "client_closed_request"
    DATABASE_UNAVAILABLE = "database_unavailable"
    DISK_FULL = "disk_full"
    DUPLICATE_FIELD = "duplicate_field"
    EMPTY_FILE = "empty_file"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    INVALID_BEFORE = "invalid_before"
    INVALID_CALLBACK_URL = "invalid_callback_url"
    INVALID_CHANNELS = "invalid_channels"
    INVALID_CONTENT_TYPE = "invalid_content_type"
    INVALID_FIELD = "invalid_field"
    INVALID_HOTWORDS = "invalid_hotwords"
    INVALID_INITIAL_PROMPT = "invalid_initial_prompt"
    INVALID_JOB_ID = "invalid_job_id"
    INVALID_LANGUAGE = "invalid_language"
    INVALID_LIMIT = "invalid_limit"
    INVALID_MULTIPART = "invalid_multipart"
    INVALID_SPEAKERS = "invalid_speakers"
    INVALID_DIARIZE = "invalid_diarize"
    INVALID_SPEAKER_COUNT = "invalid_speaker_count"
    DIARIZATION_UNAVAILABLE = "diarization_unavailable"
    UNKNOWN_SPEAKER = "unknown_speaker"
    INVALID_VOICE = "invalid_voice"
    VOICE_TOO_SHORT = "voice_too_short"
    VOICE_NOT_FOUND = "voice_not_found"
    INVALID_STATUS = "invalid_status"
    INVALID_TASK = "invalid_task"
    INVALID_UPLOAD_LENGTH = "invalid_upload_length"
    INVALID_UPLOAD_METADATA = "invalid_upload_metadata"
    INVALID_WORD_TIMESTAMPS = "invalid_word_timestamps"
    JOB_ACTIVE = "job_active"
    JOB_ID_CONFLICT = "job_id_conflict"
    JOB_NOT_ACTIVE = "job_not_active"
    JOB_NOT_COMPLETED = "job_not_completed"
    JOB_NOT_FOUND = "job_not_found"
    MISSING_FILE = "missing_file"
    MODEL_LOADING = "model_loading"
    MULTIPLE_FILES = "multiple_files"
    NOT_AUDIO = "not_audio"
    QUEUE_FULL = "queue_full"
    RESULT_NOT_FOUND = "result_not_found"
    SHUTTING_DOWN = "shutting_down"
    SUMMARIES_DISABLED = "summaries_disabled"
    TOO_MANY_QUEUED = "too_many_queued"
    TOO_MANY_UPLOADS = "too_many_uploads"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_MODEL = "unknown_model"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    UNSUPPORTED_TASK = "unsupported_task"
    UNSUPPORTED_TUS_VERSION = "unsupported_tus_version"
    UPLOAD_LOCKED = "upload_locked"
    UPLOAD_NOT_FOUND = "upload_not_found"
    UPLOAD_OFFSET_MISMATCH = "upload_offset_mismatch"
    UPLOAD_TIMEOUT = "upload_timeout"
    UPLOAD_TOO_SLOW = "upload_too_slow"
    UPLOAD_TOO_LARGE = "upload_too_large"
    URL_NOT_ALLOWED = "url_not_allowed"
    URL_TOO_LARGE = "url_too_large"
    URL_UNREACHABLE = "url_unreachable"


def invalid(field: str) -> Code:
    """The code for a bad value of a form field: invalid_<field>, or invalid_field if unlisted."""
    try:
        return Code(f"invalid_{field}")
    except ValueError:
        return Code.INVALID_FIELD


class ServiceError(Exception):
    """A failure a client caused or must wait out; `code` is stable, `message` is for people."""

    def __init__(self, message: str, *, code: Code, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class BadRequest(ServiceError):
    """The request is malformed or names an unknown value."""


class Unauthorized(ServiceError):
    """No valid API key."""


class NotFound(ServiceError):
    """No such job or result."""


class Conflict(ServiceError):
    """The job is in a state that does not allow this."""


class UploadTimeout(ServiceError):
    """The client did not finish sending in time."""


class PreconditionFailed(ServiceError):
    """A protocol version or precondition the server does not support (tus: 412)."""


class Locked(ServiceError):
    """The resource is busy with another request (tus: a PATCH in progress, 423)."""


class ClientClosed(ServiceError):
    """The client closed its connection before the request was read (nginx's 499)."""


class PayloadTooLarge(ServiceError):
    """Over the byte or duration limit."""


class UnsupportedMedia(ServiceError):
    """Not decodable audio."""


class TooManyRequests(ServiceError):
    """A per-client limit is reached; retry_after says when to come back."""


class Unavailable(ServiceError):
    """The server cannot take the job now (queue full, model loading, shutting down)."""


class InsufficientStorage(ServiceError):
    """Not enough free disk space."""
