"""The GE2E speaker encoder (Resemblyzer's weights, converted once to numpy): 1.6 s of speech -> a voice vector."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
import numpy.typing as npt

from transcriber.speech.audio import SAMPLE_RATE

Vectors = npt.NDArray[np.float32]
N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms steps
N_MELS = 40
PARTIAL_FRAMES = 160  # the encoder's input: 1.6 s of frames
PARTIAL_SAMPLES = PARTIAL_FRAMES * HOP
LAYERS = 3
TARGET_DBFS = -30.0  # Resemblyzer raises quiet audio to this level (never lowers it)


@cache
def weights() -> dict[str, Any]:
    """The stored arrays (see tools/convert_voice_encoder.py), as float32, loaded once per process."""
    with files("transcriber.speech").joinpath("data/ge2e.npz").open("rb") as fh, np.load(fh) as stored:
        return {k: stored[k].astype(np.float32) if stored[k].dtype.kind == "f" else stored[k] for k in stored.files}


def source() -> str:
    """Where the weights came from: the Resemblyzer wheel's version and SHA-256."""
    return str(weights()["source"])


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # The Slaney scale librosa uses by default: linear below 1 kHz, logarithmic above.
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@cache
def mel_basis() -> npt.NDArray[np.float32]:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney-normalised triangles."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    basis = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return basis.astype(np.float32)


def mel_frames(samples: npt.NDArray[np.float32]) -> Vectors:
    """Power mel frames (not log), as Resemblyzer feeds its encoder: shape (frames, 40)."""
    padded = np.pad(samples.astype(np.float32), N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    if count <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as scipy's get_window
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    frames: Vectors = (power.astype(np.float32) @ mel_basis().T).astype(np.float32)
    return frames


def louder(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Quiet audio raised to -30 dBFS (Resemblyzer's normalisation); loud audio left as it is."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms <= 0:
        return samples
    change = TARGET_DBFS - 20 * np.log10(rms)
    return samples if change < 0 else (samples * 10 ** (change / 20)).astype(np.float32)


def _sigmoid(x: Vectors) -> Vectors:
    result: Vectors = (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)
    return result


def embed_frames(mels: Vectors) -> Vectors:
    """Embeddings of a batch (batch, 160, 40) of mel frames: L2-normed, non-negative, (batch, 256)."""
    w = weights()
    x = mels
    hidden = np.zeros((len(mels), 256), dtype=np.float32)
    for layer in range(LAYERS):
        w_ih, w_hh = w[f"lstm_weight_ih_l{layer}"], w[f"lstm_weight_hh_l{layer}"]
        bias = w[f"lstm_bias_ih_l{layer}"] + w[f"lstm_bias_hh_l{layer}"]
        inputs = x @ w_ih.T + bias  # all time steps at once; only the recurrence is sequential
        hidden = np.zeros((len(mels), 256), dtype=np.float32)
        cell = np.zeros_like(hidden)
        outputs = np.empty((len(mels), x.shape[1], 256), dtype=np.float32)
        for t in range(x.shape[1]):
            gates = inputs[:, t] + hidden @ w_hh.T
            i, f, g, o = np.split(gates, 4, axis=1)  # torch's gate order
            cell = _sigmoid(f) * cell + _sigmoid(i) * np.tanh(g)
            hidden = _sigmoid(o) * np.tanh(cell)
            outputs[:, t] = hidden
        x = outputs
    raw = np.maximum(0, hidden @ w["linear_weight"].T + w["linear_bias"])
    norm = np.linalg.norm(raw, axis=1, keepdims=True)
    result: Vectors = (raw / np.maximum(norm, 1e-9)).astype(np.float32)
    return result


def embed_windows(samples: npt.NDArray[np.float32], starts: list[int]) -> Vectors:
    """One embedding per 1.6 s window of 16 kHz samples starting at each sample index (zero-padded)."""
    if not starts:
        return np.zeros((0, 256), dtype=np.float32)
    mels = []
    for start in starts:
        piece = samples[start : start + PARTIAL_SAMPLES]
        piece = np.pad(piece, (0, PARTIAL_SAMPLES - len(piece)))
        mels.append(mel_frames(louder(piece))[:PARTIAL_FRAMES])
    return np.concatenate([embed_frames(np.stack(mels[i : i + 64])) for i in range(0, len(mels), 64)])


def embed_utterance(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One voice vector for a clip: the normed mean of its windows (Resemblyzer's embed_utterance)."""
    step = int(SAMPLE_RATE / 1.3)
    last = max(0, len(samples) - PARTIAL_SAMPLES)
    vectors = embed_windows(samples, list(range(0, last + 1, step)))
    mean = vectors.mean(axis=0)
    result: npt.NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
    return result
