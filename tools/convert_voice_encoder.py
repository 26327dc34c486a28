"""Hand-run, once: Resemblyzer's GE2E speaker encoder (pretrained.pt, Apache-2.0) as plain numpy arrays.

The service runs the encoder with numpy (transcriber/speech/voice_encoder.py), so neither torch nor
a download is needed at run time. This script needs torch (CPU) and the Resemblyzer wheel:

    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install torch numpy
    pip download --no-deps -d /tmp/wheels resemblyzer==0.1.4
    /tmp/conv/bin/python tools/convert_voice_encoder.py /tmp/wheels/Resemblyzer-0.1.4-py3-none-any.whl

It writes transcriber/speech/data/ge2e.npz: the LSTM and linear weights (float16, which keeps each
embedding within cosine 0.9999 of torch's, see the check), the wheel's version and SHA-256, and a
reference input with torch's output, which tests/test_voice_encoder.py compares ours against.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "transcriber" / "speech" / "data" / "ge2e.npz"
LAYERS = 3


def _torch_embed(state: dict[str, torch.Tensor], mels: np.ndarray) -> np.ndarray:
    lstm = torch.nn.LSTM(40, 256, LAYERS, batch_first=True)
    linear = torch.nn.Linear(256, 256)
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k.removeprefix("linear."): v for k, v in state.items() if k.startswith("linear.")})
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        raw = torch.relu(linear(hidden[-1]))
        return (raw / torch.norm(raw, dim=1, keepdim=True)).numpy()


def main() -> None:
    wheel = Path(sys.argv[1])
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as archive:
        checkpoint = torch.load(io.BytesIO(archive.read("resemblyzer/pretrained.pt")), map_location="cpu")
    state = {k: v.float() for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
    rng = np.random.default_rng(20)
    # Mel power frames of speech span many decades; a log-uniform input exercises the same range.
    mels = np.exp(rng.uniform(-12, 3, size=(4, 160, 40))).astype(np.float32)
    arrays = {k.replace(".", "_"): v.numpy().astype(np.float16) for k, v in state.items()}
    halved = {k: torch.from_numpy(arrays[k.replace(".", "_")].astype(np.float32)) for k in state}
    want, got = _torch_embed(state, mels), _torch_embed(halved, mels)
    cosine = float(np.min(np.sum(want * got, axis=1)))
    assert cosine > 0.9999, cosine
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        **arrays,
        check_input=mels,
        check_output=got,  # what the stored (float16) weights give in torch
        source=np.array(f"Resemblyzer {version} resemblyzer/pretrained.pt (Apache-2.0), wheel sha256 {digest}"),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); float16 vs float32 cosine >= {cosine:.6f}")


if __name__ == "__main__":
    main()
