"""What the check saw: counts, per-phase wall time, failures, and the summary block it prints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Report:
    """Filled in as the phases run; printed at the end whatever happened."""

    images: list[str] = field(default_factory=list)
    healthy: dict[str, int] = field(default_factory=dict)  # service -> times seen healthy
    submitted: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    summaries: int = 0
    restarts: int = 0
    at_kill: str = ""  # the killed batch's states at the kill
    rerun: int = 0  # jobs run again after it (attempts > 1)
    kept_after_down_up: int = 0
    phases: list[tuple[str, float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase and record its outcome; a failure stops the phases after it."""
        print(f"container-check: {name} ...", flush=True)
        started = time.monotonic()
        outcome = "ok"
        try:
            yield
        except Exception as exc:
            outcome = "FAILED"
            self.failures.append(f"{name}: {exc}")
            raise
        finally:
            seconds = time.monotonic() - started
            self.phases.append((name, seconds, outcome))
            print(f"container-check: {name} {outcome} in {seconds:.0f} s", flush=True)

    def lines(self) -> list[str]:
        healthy = ", ".join(f"{name} ({n}x)" for name, n in sorted(self.healthy.items())) or "none"
        out = [
            "==== container-check summary ====",
            f"images built      : {', '.join(self.images) or 'none'}",
            f"services healthy  : {healthy}",
            f"jobs              : submitted {self.submitted}, completed {self.completed}, "
            f"lost {self.lost}, duplicated {self.duplicated}",
            f"summaries         : {self.summaries} stored, each exactly once"
            if self.summaries
            else "summaries         : 0",
            f"restarts seen     : {self.restarts} (server SIGKILLed from the host, restarted by its policy)",
            f"at the kill       : {self.at_kill or '-'}; {self.rerun} interrupted job(s) ran again and completed",
            f"after down + up   : {self.kept_after_down_up} of {self.submitted} jobs still there",
            "wall time         : "
            + ", ".join(f"{n} {s:.0f} s{'' if o == 'ok' else ' ' + o}" for n, s, o in self.phases),
            f"total             : {sum(s for _, s, _ in self.phases):.0f} s",
        ]
        out += [f"FAILURE           : {f}" for f in self.failures]
        out.append(f"result            : {'FAILED' if self.failures else 'PASSED'}")
        return out
