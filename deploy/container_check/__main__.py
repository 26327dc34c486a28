"""The container check, phase by phase: images, a healthy stack, jobs, a killed server, down/up."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from . import images
from .jobs import Clip, Server, check_job, clips
from .podman import CheckFailed, Podman
from .report import Report
from .stack import Stack

ROOT = Path(__file__).resolve().parents[2]
SERVICE_UID = "10001"  # the Dockerfile's unprivileged user


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deploy/container-check", description=__doc__)
    parser.add_argument("--cache", type=Path, required=True, help="podman-compose venv, containers.conf, log")
    parser.add_argument("--compose", type=Path, required=True, help="the podman-compose executable")
    parser.add_argument("--project", default="transcriber-check", help="compose project name")
    parser.add_argument("--jobs", type=int, default=6, help="clips submitted before the kill")
    parser.add_argument("--kill-jobs", type=int, default=8, help="clips in flight when the server is killed")
    parser.add_argument("--no-cuda", action="store_true", help="skip building the cuda target")
    parser.add_argument("--keep-images", action="store_true", help="leave the built images for the next run")
    return parser.parse_args()


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def built_images(compose: dict[str, Any], cuda: bool) -> dict[str, str]:
    """Image tag -> Dockerfile target, for every service compose.yaml builds."""
    found = {
        svc["image"]: svc["build"].get("target", "runtime") for svc in compose["services"].values() if "build" in svc
    }
    return {tag: target for tag, target in found.items() if cuda or target != "cuda"}


def probe_image(podman: Podman, tag: str) -> str:
    """The image imports the engine and the project and runs as the service user; ctranslate2's version."""
    probe = "import os, ctranslate2, faster_whisper, transcriber; print(ctranslate2.__version__, os.getuid())"
    version, uid = podman.run("run", "--rm", "--network", "none", "--entrypoint", "python", tag, "-c", probe).split()
    if uid != SERVICE_UID:
        raise CheckFailed(f"{tag} runs as uid {uid}, not the service user {SERVICE_UID}")
    return version


def gpu_check(podman: Podman, tag: str) -> str:
    """In the cuda image, ctranslate2 opens every CUDA library it loads (no GPU needed for that)."""
    probe = ("run", "--rm", "--network", "none", "--entrypoint", "python", tag, "-m", "transcriber.speech.gpu_check")
    found = [ln.strip() for ln in podman.run(*probe).splitlines() if ": found at " in ln]
    if not found:
        raise CheckFailed(f"{tag}: gpu_check found no CUDA library")
    return "finds " + "; ".join(found)


def build(podman: Podman, report: Report, compose: dict[str, Any], cuda: bool) -> None:
    with report.phase("base image"):
        report.images.append(f"{images.BASE} ({images.make_base(podman)}, Debian stand-in for python:3.11-slim)")
    for tag, target in built_images(compose, cuda).items():
        with report.phase(f"build {target}"):
            images.build_target(podman, target, tag)
            version = probe_image(podman, tag)
            cuda_libraries = f", {gpu_check(podman, tag)}" if target == "cuda" else ""
            report.images.append(f"{tag} (target {target}, ctranslate2 {version}{cuda_libraries})")
    with report.phase("stand-ins"):
        for image in images.registry_images(compose):
            images.build_standin(podman, image)
            report.images.append(f"{image} (stand-in from Debian packages)")


def submit(server: Server, report: Report, prefix: str, batch: list[Clip]) -> dict[str, Clip]:
    jobs = {f"{prefix}-{n}-{clip.path.stem}": clip for n, clip in enumerate(batch)}
    for job_id, clip in jobs.items():
        server.submit(job_id, clip)
    report.submitted += len(jobs)
    return jobs


def settle(server: Server, report: Report, jobs: dict[str, Clip], timeout: float = 900) -> dict[str, dict[str, Any]]:
    """Wait for every job and check it: completed, the clip's words, a summary, files served."""
    bodies = server.wait_done(jobs, timeout)
    problems = [p for job_id, body in bodies.items() if (p := check_job(server, body, jobs[job_id]))]
    report.completed += sum(1 for body in bodies.values() if body["status"] == "completed")
    report.summaries += sum(1 for body in bodies.values() if body["summary"]["status"] == "completed")
    if problems:
        raise CheckFailed("; ".join(problems))
    return bodies


def kill_while_running(stack: Stack, server: Server, report: Report, jobs: dict[str, Clip]) -> None:
    """SIGKILL the server while jobs are queued and one runs; its policy restarts it; all finish."""
    deadline = time.monotonic() + 120
    while not server.any_running():
        if time.monotonic() > deadline:
            raise CheckFailed("no job started running within 120 s")
        time.sleep(0.2)
    states = Counter(str((server.status(job_id) or {}).get("status")) for job_id in jobs)
    count = stack.kill_server()
    report.at_kill = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    stack.wait_restarted(count)
    report.restarts += stack.inspect(stack.server)[0] - count
    bodies = settle(server, report, jobs)
    # The job the kill interrupted runs again (attempt 2): proof that the kill hit a running job.
    report.rerun = sum(1 for body in bodies.values() if body["attempts"] > 1)
    if not report.rerun:
        raise CheckFailed("no job was running when the server was killed (none has attempts > 1)")


def exactly_once(stack: Stack, report: Report, job_ids: list[str]) -> None:
    """Each job completed and had its summary stored once, by the server's own log lines."""
    stack.keep_logs()
    twice = []
    for job_id in job_ids:
        done = stack.count_in_logs(f"job {job_id}: completed in")
        summary = stack.count_in_logs(f"job {job_id}: summary stored")
        if done != 1 or summary != 1:
            twice.append(f"{job_id} (completed {done}x, summary {summary}x)")
    report.duplicated = sum(1 for t in twice if "completed 0x" not in t)
    if twice:
        raise CheckFailed("not exactly once: " + ", ".join(twice))


def still_there(stack: Stack, server: Server, report: Report, jobs: dict[str, Clip]) -> None:
    stack.down()
    stack.up()
    report.healthy.update({s: report.healthy.get(s, 0) + 1 for s in stack.wait_healthy()})
    bodies = {job_id: server.status(job_id) for job_id in jobs}
    problems = [p for job_id, body in bodies.items() if body is None or (p := check_job(server, body, jobs[job_id]))]
    report.kept_after_down_up = len(jobs) - len(problems)
    if problems:
        raise CheckFailed("after down/up: " + "; ".join(str(p) for p in problems))


def exercise(stack: Stack, server: Server, report: Report, args: argparse.Namespace) -> None:
    known = clips(ROOT / "tests" / "clips")
    with report.phase("stack up"):
        stack.up()
        report.healthy.update({s: 1 for s in stack.wait_healthy()})
    with report.phase("jobs"):
        first = submit(server, report, "first", [known[n % len(known)] for n in range(args.jobs)])
        settle(server, report, first)
    with report.phase("kill server"):
        second = submit(server, report, "killed", [known[n % len(known)] for n in range(args.kill_jobs)])
        kill_while_running(stack, server, report, second)
        exactly_once(stack, report, [*first, *second])
    with report.phase("down and up"):
        still_there(stack, server, report, {**first, **second})
    report.lost = report.submitted - report.kept_after_down_up


def main() -> int:
    args = arguments()
    started = time.monotonic()
    port = free_loopback_port()
    # Published on loopback only: "127.0.0.1:PORT:8002".
    podman = Podman.create(ROOT, args.compose, args.cache, {"TRANSCRIBER_PORT": f"127.0.0.1:{port}"})
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    stack, report = Stack(podman, args.project), Report()
    before = set(images.image_ids(podman))
    try:
        build(podman, report, compose, not args.no_cuda)
        exercise(stack, Server(port), report, args)
    except Exception as exc:  # recorded by its phase (or here); the summary still prints
        if not report.failures:
            report.failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        cleanup(podman, stack, report, compose, args.keep_images, before)
    print("\n".join(report.lines()), f"\nlog: {podman.log}, {time.monotonic() - started:.0f} s in all", flush=True)
    return 1 if report.failures else 0


def cleanup(
    podman: Podman, stack: Stack, report: Report, compose: dict[str, Any], keep: bool, before: set[str]
) -> None:
    """Remove the containers, networks and volumes this run made; the built images unless kept."""
    try:
        with report.phase("cleanup"):
            stack.down(volumes=True, keep_logs=False)
            if not keep:
                tags = [*built_images(compose, True), *images.registry_images(compose)]
                podman.run("rmi", "--ignore", *tags)
                # Untagged build stages this run left behind; images that were here before stay.
                leftovers = set(images.image_ids(podman, dangling=True)) - before
                if leftovers:
                    podman.run("rmi", "--ignore", *sorted(leftovers))
    except Exception:  # recorded by the phase
        pass


if __name__ == "__main__":
    sys.exit(main())
