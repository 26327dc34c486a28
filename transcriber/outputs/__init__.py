"""The transcript model, its txt/srt/vtt/json renderings (pure) and the result files on disk."""
