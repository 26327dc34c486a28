"""Self-hosted speech transcription service: faster-whisper behind a durable HTTP job queue."""
