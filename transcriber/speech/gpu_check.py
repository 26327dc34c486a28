"""`python -m transcriber.speech.gpu_check`: can CTranslate2 open the CUDA libraries it loads at
run time? The cuda image runs it while it is built, so an image whose libraries cannot be found
is never produced; on a GPU host it also says how many devices the driver shows."""

from __future__ import annotations

import argparse
import ctypes
import re
import sys
from pathlib import Path

# The driver's library comes from the host (the NVIDIA container runtime mounts it), not the image.
DRIVER = "libcuda.so.1"
_SONAME = re.compile(rb"lib(?:cu|nv)[A-Za-z0-9_]*\.so\.[0-9]+")


def ctranslate2_library() -> Path:
    """The shared library behind the ctranslate2 module (in ctranslate2.libs/ in the PyPI wheel)."""
    import ctranslate2

    package = Path(ctranslate2.__file__).parent
    found = sorted(package.parent.glob("ctranslate2.libs/libctranslate2*.so*")) + sorted(package.glob("*.so*"))
    if not found:
        raise FileNotFoundError(f"no libctranslate2 shared library next to {package}")
    return found[0]


def wanted(library: Path) -> list[str]:
    """The CUDA libraries it opens by name at run time (it links the CUDA runtime statically)."""
    names = {m.decode() for m in _SONAME.findall(library.read_bytes())}
    return sorted(n for n in names if n != DRIVER)


def _mapped(name: str) -> str:
    """Where the loader found it: the file this process has mapped under that name."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(f"/{name}") or f"/{name} " in line:
            return line.split(maxsplit=5)[-1]
    return "(not in /proc/self/maps)"


def check(require_gpu: bool) -> list[str]:
    """Problems found, one line each (empty: all is well)."""
    import ctranslate2

    problems: list[str] = []
    library = ctranslate2_library()
    names = wanted(library)
    print(f"ctranslate2 {ctranslate2.__version__} ({library.name}) opens: {', '.join(names) or 'nothing'}")
    if not names:
        problems.append("this ctranslate2 build opens no CUDA library: it was built without CUDA")
    for name in names:
        try:
            ctypes.CDLL(name)  # the same search as its dlopen: LD_LIBRARY_PATH, then ld.so.cache
        except OSError as exc:
            problems.append(f"{name}: {exc}")
        else:
            print(f"  {name}: found at {_mapped(name)}")
    devices = ctranslate2.get_cuda_device_count()
    print(f"CUDA devices the driver shows: {devices}")
    if require_gpu and devices == 0:
        problems.append("no CUDA device (is the NVIDIA container runtime on, the driver installed?)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that CTranslate2 finds its CUDA libraries.")
    parser.add_argument("--require-gpu", action="store_true", help="also fail when no CUDA device is visible")
    problems = check(parser.parse_args(argv).require_gpu)
    for problem in problems:
        print(f"gpu-check: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
