"""Process measurements: resident memory sampled in a thread, plus the kernel's exact peak on Linux."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psutil

MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    """Resident set size now, in MiB (0 if the process is gone)."""
    try:
        return float(psutil.Process(pid).memory_info().rss) / MIB
    except psutil.Error:
        return 0.0


def _kernel_peak_mib(pid: int) -> float:
    """VmHWM, the kernel's high-water mark of resident memory; 0 where /proc does not give it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_kernel_peak(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+); ignored elsewhere."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class RssMonitor:
    """Peak RSS of one process over a window: samples every `interval` s and the kernel's mark."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid = pid
        self._interval = interval
        self._peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name=f"rss-{pid}", daemon=True)

    def start(self) -> RssMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Start a new window: forget the peak so far."""
        _reset_kernel_peak(self.pid)
        self._peak = rss_mib(self.pid)

    def current(self) -> float:
        return rss_mib(self.pid)

    def peak(self) -> float:
        """Peak RSS (MiB) since start() or the last reset()."""
        return max(self._peak, _kernel_peak_mib(self.pid), rss_mib(self.pid))

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, rss_mib(self.pid))


def settle(monitor: RssMonitor, seconds: float = 0.3) -> float:
    """RSS after a short pause, for idle figures."""
    time.sleep(seconds)
    return monitor.current()
