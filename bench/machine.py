"""The machine a run measured: cores, CPU model, steal time over the run, the work disk's own speed.

Figures are ratios measured side by side, but how large a gap is (and whether a target is within
reach) depends on the machine, so every results file starts with what it ran on.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DISK_PROBE_MIB = 256
BLOCK = 1 << 20


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies from /proc/stat's first line: all of them, and those stolen by the hypervisor."""

    total: int
    steal: int

    @classmethod
    def now(cls) -> CpuTimes:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return cls(0, 0)
        values = [int(v) for v in fields]
        return cls(sum(values[:8]), values[7] if len(values) > 7 else 0)

    def steal_share(self, later: CpuTimes) -> float | None:
        total = later.total - self.total
        return (later.steal - self.steal) / total if total > 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def disk_speed(directory: Path, mib: int = DISK_PROBE_MIB) -> dict[str, float]:
    """Sequential write of `mib` MiB with an fsync (what an upload's commit waits for), then the
    read back, in MB/s. The read may come from the page cache: it is the upper bound a copy meets."""
    path = directory / "disk-probe.bin"
    block = os.urandom(BLOCK)
    started = time.perf_counter()
    with path.open("wb", buffering=0) as fh:
        for _ in range(mib):
            fh.write(block)
        os.fsync(fh.fileno())
    wrote = time.perf_counter() - started
    started = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        while fh.read(BLOCK * 8):
            pass
    read = time.perf_counter() - started
    path.unlink()
    size_mb = mib * BLOCK / 1e6
    return {"write_fsync_mb_s": round(size_mb / wrote, 1), "read_mb_s": round(size_mb / read, 1)}


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gib: float
    disk: dict[str, float]
    steal_share: float | None
    load_average: tuple[float, float, float]

    def header(self) -> str:
        steal = "unknown" if self.steal_share is None else f"{self.steal_share:.1%}"
        disk = self.disk
        written = (
            f"work disk {disk.get('write_fsync_mb_s', 0):.0f} MB/s written with fsync, "
            f"{disk.get('read_mb_s', 0):.0f} MB/s read back"
            if disk
            else "work disk not measured"
        )
        return (
            f"Machine: {self.cores} cores ({self.cpu}), {self.memory_gib:.0f} GiB; steal time {steal} of CPU "
            f"time during the run; {written}; load average at the end "
            f"{', '.join(f'{x:.1f}' for x in self.load_average)}.\n"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(started: CpuTimes, disk: dict[str, float]) -> Machine:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0.0
    return Machine(
        cores=os.cpu_count() or 0,
        cpu=cpu_model(),
        memory_gib=memory,
        disk=disk,
        steal_share=started.steal_share(CpuTimes.now()),
        load_average=os.getloadavg(),
    )
