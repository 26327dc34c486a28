"""Running podman and podman-compose with the settings this kind of sandbox needs."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The sandbox forbids raising rlimits (default_ulimits) and crun cannot run in its cgroup layout
# (runtime): see shared/CONTAINERS.md. Both are harmless on an ordinary host.
CONTAINERS_CONF = """[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


class CheckFailed(RuntimeError):
    """A step of the check failed; the message says which and why."""


@dataclass(frozen=True)
class Podman:
    """podman and podman-compose for one compose project, with output logged to a file."""

    root: Path  # the repository: build context and compose.yaml
    compose_bin: Path
    env: dict[str, str]
    log: Path

    @classmethod
    def create(cls, root: Path, compose_bin: Path, cache: Path, extra_env: dict[str, str]) -> Podman:
        conf = cache / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        env = {**os.environ, "CONTAINERS_CONF": str(conf), **extra_env}
        log = cache / "container-check.log"
        log.write_text("")  # this run's commands only
        return cls(root, compose_bin, env, log)

    def run(self, *args: str, check: bool = True, timeout: float = 600, stdin: bytes | None = None) -> str:
        """podman ARGS with runc; returns stdout. Everything goes to the log file too."""
        return self.call(self.cmd(*args), check, timeout, stdin).stdout

    @staticmethod
    def cmd(*args: str) -> list[str]:
        return ["podman", "--runtime", "runc", *args]

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        cmd = [str(self.compose_bin), "--podman-args=--runtime runc", "-f", str(self.root / "compose.yaml"), *args]
        return self.call(cmd, check, timeout).stdout

    def image_exists(self, name: str) -> bool:
        return self.call(["podman", "image", "exists", name], check=False, timeout=60).returncode == 0

    def call(
        self, cmd: list[str], check: bool = True, timeout: float = 600, stdin: bytes | None = None, merge: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run CMD with stderr (and a copy of stdout) appended to the log file; merge: stderr into stdout."""
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(cmd)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    cmd,
                    input=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT if merge else log,
                    env=self.env,
                    cwd=self.root,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CheckFailed(f"`{' '.join(cmd[:3])} ...` did not finish in {timeout:.0f} s") from exc
            out = done.stdout.decode(errors="replace")
            log.write(out if len(out) < 100_000 else out[-100_000:])
        if check and done.returncode != 0:
            raise CheckFailed(f"`{' '.join(cmd[:4])} ...` exited {done.returncode}; see {self.log}")
        return subprocess.CompletedProcess(cmd, done.returncode, out, "")
