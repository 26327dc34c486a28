"""The compose stack: up, down, health, the server's process, its restarts and its logs."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

from .podman import CheckFailed, Podman

HEALTH_TIMEOUT = 600.0  # a first start joins the base model's halves into the models volume


@dataclass
class Stack:
    """One compose project; the server's logs are kept across container restarts and re-creations."""

    podman: Podman
    project: str
    server: str = "transcriber"
    logs: dict[str, str] = field(default_factory=dict)  # container id -> its whole log

    def up(self) -> None:
        self.podman.compose("-p", self.project, "up", "-d", "--no-build", timeout=900)

    def down(self, volumes: bool = False, keep_logs: bool = True) -> None:
        if keep_logs:
            self.keep_logs()
        self.podman.compose("-p", self.project, "down", *(["-v"] if volumes else []), timeout=300)

    def containers(self) -> dict[str, str]:
        """Service name -> container name, for the containers of this project that exist."""
        label = f"label=io.podman.compose.project={self.project}"
        out = self.podman.run(
            "ps", "-a", "--filter", label, "--format", '{{index .Labels "com.docker.compose.service"}} {{.Names}}'
        )
        return dict(line.split() for line in out.splitlines() if line.strip())

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> list[str]:
        """Run every service's health check until each passes (podman 4.3 runs none by itself)."""
        deadline = time.monotonic() + timeout
        waiting = self.containers()
        if not waiting:
            raise CheckFailed(f"compose project {self.project} has no containers")
        healthy: list[str] = []
        while waiting:
            for service, name in sorted(waiting.items()):
                if (
                    self.podman.call(self.podman.cmd("healthcheck", "run", name), check=False, timeout=60).returncode
                    == 0
                ):
                    healthy.append(service)
                    del waiting[service]
            if waiting and time.monotonic() > deadline:
                raise CheckFailed(f"not healthy after {timeout:.0f} s: {', '.join(sorted(waiting))}")
            if waiting:
                time.sleep(2)
        return healthy

    def inspect(self, service: str) -> tuple[int, int, str]:
        """(restart count, host pid of its main process, state) of a service's container."""
        name = self.containers()[service]
        out = self.podman.run("inspect", "--format", "{{.RestartCount}} {{.State.Pid}} {{.State.Status}}", name)
        count, pid, state = out.split()
        return int(count), int(pid), state

    def kill_server(self) -> int:
        """SIGKILL the server's process from the host, as a crash would; its old restart count."""
        count, pid, state = self.inspect(self.server)
        if state != "running" or pid <= 0:
            raise CheckFailed(f"server container is {state}, cannot kill it")
        self.keep_logs()
        os.kill(pid, signal.SIGKILL)
        return count

    def wait_restarted(self, count: int, timeout: float = 120) -> None:
        """Wait until the restart policy has started the server again, then until it is healthy."""
        deadline = time.monotonic() + timeout
        while True:
            now, pid, state = self.inspect(self.server)
            if now > count and state == "running" and pid > 0:
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"server not restarted after {timeout:.0f} s (restarts {now}, {state})")
            time.sleep(0.5)
        self.wait_healthy(timeout)

    def keep_logs(self) -> None:
        """Remember every container's log so far: podman keeps one log across restarts."""
        for name in self.containers().values():
            cid = self.podman.run("inspect", "--format", "{{.Id}}", name).strip()
            self.logs[cid] = self.podman.call(self.podman.cmd("logs", name), check=False, merge=True).stdout

    def count_in_logs(self, text: str) -> int:
        return sum(log.count(text) for log in self.logs.values())
