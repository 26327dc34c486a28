"""Figures and their outputs: a markdown table, the same figures as JSON, a PNG throughput chart."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TARGETS = {
    1: "server overhead",
    2: "fast mode",
    3: "concurrency",
    4: "responsiveness",
    5: "uploads",
    6: "memory",
    7: "cold start",
}


@dataclass
class Figure:
    """One reported number: a ratio or a measurement, its goal, and whether it meets it."""

    target: int
    name: str
    value: float | None
    unit: str
    goal: str = "report"
    met: bool | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        digits = 3 if abs(self.value) < 10 else 1
        return f"{self.value:.{digits}f} {self.unit}".strip()


@dataclass
class Throughput:
    """Audio seconds per wall second of one configuration, for the chart."""

    group: str
    label: str
    audio_seconds: float
    wall_seconds: float

    @property
    def rate(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: list[float], digits: int = 3) -> str:
    """A median with the range it came from, so one lucky run cannot pass for the figure."""
    if not values:
        return "no runs"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (one run)"
    return f"{median(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f}, n={len(values)})"


def check(value: float | None, *, at_most: float | None = None, at_least: float | None = None) -> bool | None:
    if value is None or math.isnan(value):  # not measured
        return None
    if at_most is not None and value > at_most:
        return False
    return not (at_least is not None and value < at_least)


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| # | figure | value | target | met | detail |",
        "|---|---|---|---|---|---|",
    ]
    for f in sorted(figures, key=lambda f: f.target):
        met = {True: "yes", False: "**NO**", None: "-"}[f.met]
        lines.append(f"| {f.target} | {f.name} | {f.shown()} | {f.goal} | {met} | {f.detail} |")
    return "\n".join(lines) + "\n"


def write_json(
    path: Path, meta: dict[str, Any], figures: list[Figure], rates: list[Throughput], errors: dict[str, str]
) -> None:
    body = {
        "meta": meta,
        "figures": [asdict(f) for f in sorted(figures, key=lambda f: f.target)],
        "throughput": [{**asdict(t), "rate": round(t.rate, 3)} for t in rates],
        "errors": errors,
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def write_chart(path: Path, rates: list[Throughput], title: str) -> None:
    """Horizontal bars of audio seconds per wall second, one colour per comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(t.group for t in rates))
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(rates), 2) + 1.5))
    labels = [f"{t.group}: {t.label}" for t in rates]
    bars = ax.barh(
        range(len(rates)), [t.rate for t in rates], color=[colours(groups.index(t.group) % 10) for t in rates]
    )
    ax.bar_label(bars, labels=[f"{t.rate:.1f}x" for t in rates], padding=3, fontsize=8)
    ax.set_yticks(range(len(rates)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("audio seconds per wall second (higher is better)")
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
