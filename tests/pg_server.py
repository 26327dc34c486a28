"""A real PostgreSQL server for tests: initdb once in a temp dir, on a free loopback port.

Binaries come from PATH, else from /usr/lib/postgresql/<version>/bin (Debian keeps them there).
initdb and postgres refuse to run as root, so as root both run as `nobody` in a directory that
user owns; as anyone else they run as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support import free_port

SUPERUSER = "postgres"
START_TIMEOUT = 30.0
# Durability off: the tests restart the server cleanly (a clean stop flushes everything), and
# fsync on a shared CI disk would make every CREATE DATABASE and commit slow.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        folder = Path(found).resolve().parent
        if (folder / "postgres").exists():
            return folder
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "postgres").exists():
            return folder
    return None


def _run_as() -> dict[str, Any]:
    """subprocess arguments that drop root privileges (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


class PgServer:
    """One cluster; start() after stop() restarts it on the same port and data."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as = _run_as()
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
        self.log = self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._as,
        )

    def start(self) -> None:
        settings = [*FAST, "listen_addresses=127.0.0.1", f"port={self.port}", f"unix_socket_directories={self.root}"]
        args = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for setting in settings:
            args += ["-c", setting]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, **self._as)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.output()}")
            check = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER],
                capture_output=True,
                check=False,
            )
            if check.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready in {START_TIMEOUT} s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: 'fast' (clean, as a restart does) or 'immediate' (like a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", mode, "-w"],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._as,
        )
        self.proc.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            shutil.rmtree(self.root, ignore_errors=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def psql(self, database: str, sql: str) -> str:
        """Run SQL with the psql shell, as an operator would; returns unaligned rows."""
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.url(database), "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()
