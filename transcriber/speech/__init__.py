"""Speech to text: the engine, models, audio, VAD regions, decoding profiles, fast mode, channels, clean-up."""
