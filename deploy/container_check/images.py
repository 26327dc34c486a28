"""The images: a Debian base made with debootstrap, the project's targets, registry stand-ins."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .podman import CheckFailed, Podman

BASE = "localhost/debian-python:3.11"
BOOTSTRAP = "localhost/debian-bootstrap:bookworm"
UPGRADE_FILE = """FROM {bootstrap}
RUN apt-get update && apt-get -y upgrade && rm -rf /var/lib/apt/lists/*
"""
BASE_PACKAGES = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
# The official python:3.11-slim image sets these; an imported root file system has no config.
BASE_CHANGES = ("ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV=LANG=C.UTF-8")


@dataclass(frozen=True)
class StandIn:
    """A local image made from Debian packages that behaves like a registry image where it matters."""

    packages: str
    command: str  # the image's default CMD, as JSON
    entrypoint: str = 'exec "$@"'  # shell run with the command as "$@"


# Debian's redis-server without a config file runs in protected mode and resets connections
# from other containers; the official image does not, so the stand-in turns it off.
REDIS_ENTRYPOINT = '[ "$1" = redis-server ] && set -- "$@" --protected-mode no; exec "$@"'

# Like the official postgres image: on first start initdb as POSTGRES_USER with POSTGRES_PASSWORD
# (password auth from other hosts), create POSTGRES_DB, then run postgres listening everywhere.
POSTGRES_ENTRYPOINT = r"""set -e
[ "$1" = postgres ] || exec "$@"
bin=/usr/lib/postgresql/15/bin; data="${PGDATA:-/var/lib/postgresql/data}"; user="${POSTGRES_USER:-postgres}"
mkdir -p "$data" /run/postgresql && chown postgres:postgres "$data" /run/postgresql && chmod 700 "$data"
as_pg() { su postgres -s /bin/sh -c "$*"; }
if [ ! -s "$data/PG_VERSION" ]; then
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > /tmp/pw && chown postgres /tmp/pw
    as_pg "$bin/initdb -D $data -U $user --pwfile=/tmp/pw --auth-local=trust --auth-host=scram-sha-256"
    rm /tmp/pw && echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
    db="${POSTGRES_DB:-$user}"
    if [ "$db" != postgres ]; then
        as_pg "$bin/pg_ctl -D $data -o '-c listen_addresses=' -w start"
        as_pg "$bin/psql -U $user -d postgres -c 'CREATE DATABASE \"$db\"'"
        as_pg "$bin/pg_ctl -D $data -m fast -w stop"
    fi
fi
shift
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$data" -c listen_addresses='*' "$@"
"""

# Registry images compose.yaml uses, by repository name: adding one is one line.
STANDINS: dict[str, StandIn] = {
    "redis": StandIn("redis-server", '["redis-server"]', REDIS_ENTRYPOINT),
    "nginx": StandIn("nginx-light wget", '["nginx", "-g", "daemon off;"]'),
    "postgres": StandIn("postgresql-15", '["postgres"]', POSTGRES_ENTRYPOINT),
}

STANDIN_FILE = """FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends {packages} && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/standin-entrypoint
LABEL org.opencontainers.image.description="stand-in for {image}, built from Debian packages"
WORKDIR /data
ENTRYPOINT ["/bin/sh", "/usr/local/bin/standin-entrypoint"]
CMD {command}
"""


def make_base(podman: Podman) -> str:
    """The Debian bookworm base image (a stand-in for python:3.11-slim-bookworm), made once."""
    if podman.image_exists(BASE):
        return "cached"
    with tempfile.TemporaryDirectory(prefix="debootstrap-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        podman.call(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(root), MIRROR])
        (root / "etc/apt/sources.list").write_text(
            f"deb {MIRROR} bookworm main\ndeb {MIRROR} bookworm-updates main\ndeb {SECURITY} bookworm-security main\n"
        )
        for cached in (root / "var/cache/apt/archives").glob("*.deb"):
            cached.unlink()
        tar = subprocess.run(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE, check=True)
        changes = [arg for change in BASE_CHANGES for arg in ("--change", change)]
        podman.run("import", *changes, "-", BOOTSTRAP, stdin=tar.stdout)
    # debootstrap takes bookworm as released; the official image carries the point and security
    # updates. Upgrading here also keeps later builds from upgrading ca-certificates, which fails
    # while the host's CA bundle is mounted over its file (apt reaches Debian over plain HTTP).
    with tempfile.TemporaryDirectory(prefix="base-") as tmp:
        (Path(tmp) / "Containerfile").write_text(UPGRADE_FILE.format(bootstrap=BOOTSTRAP))
        podman.run("build", "--format", "docker", "--network", "host", "-t", BASE, tmp, timeout=900)
    podman.run("rmi", BOOTSTRAP)
    return "built"


def build_args(podman: Podman) -> list[str]:
    """Flags every build here needs: host network and the host's CA bundle (TLS inspection)."""
    cert = podman.env.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    return ["build", "--format", "docker", "--network", "host", "-v", f"{cert}:/etc/ssl/certs/ca-certificates.crt:ro"]


def build_target(podman: Podman, target: str, tag: str) -> None:
    """One target of the project's Dockerfile, on the Debian base (the cuda target too: its CUDA
    library comes from PyPI, not from a base image)."""
    args = ["--build-arg", f"PYTHON_IMAGE={BASE}"]
    podman.run(*build_args(podman), *args, "--target", target, "-t", tag, str(podman.root), timeout=3000)


def registry_images(compose: dict[str, Any]) -> list[str]:
    """Images compose.yaml takes from a registry: those of services it does not build."""
    services: dict[str, dict[str, Any]] = compose["services"]
    return sorted({svc["image"] for svc in services.values() if "image" in svc and "build" not in svc})


def repository(image: str) -> str:
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def build_standin(podman: Podman, image: str) -> None:
    name = repository(image)
    if name not in STANDINS:
        raise CheckFailed(f"compose.yaml uses {image}, which has no stand-in in STANDINS (deploy/container_check)")
    spec = STANDINS[name]
    with tempfile.TemporaryDirectory(prefix="standin-") as tmp:
        context = Path(tmp)
        file = STANDIN_FILE.format(base=BASE, packages=spec.packages, image=image, command=spec.command)
        (context / "Containerfile").write_text(file)
        (context / "entrypoint.sh").write_text(spec.entrypoint + "\n")
        podman.run(*build_args(podman), "-t", image, str(context), timeout=900)


def image_ids(podman: Podman, dangling: bool = False) -> list[str]:
    """Full ids of the local images (only the untagged ones with dangling)."""
    return podman.run("images", "-a", "-q", "--no-trunc", *(["-f", "dangling=true"] if dangling else [])).split()
