"""Fast mode (target 2) against the two things a user would run instead, in one run:
plain transcribe(beam_size=5) and faster-whisper's batched pipeline as speaches serves it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.cases_speed import warm
from bench.client import run_batch, session
from bench.context import Context, log
from bench.direct import DirectLoop
from bench.fixtures import Clip
from bench.report import Figure, Throughput, check, median, spread
from bench.server import Server, ServerConfig
from bench.wer import Errors, align

SIDES = ("plain", "recipe", "ours")


@dataclass
class Sides:
    """Wall seconds and the last text of each side, per repeat."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    texts: dict[str, str] = field(default_factory=dict)

    def ratios(self, slower: str, faster: str) -> list[float]:
        return [s / f for s, f in zip(self.seconds[slower], self.seconds[faster], strict=True)]


async def fast_mode(ctx: Context) -> None:
    clip = ctx.fixtures.english_long(40 if ctx.quick else 300)
    for model in ["tiny.en"] if ctx.quick else ["base", "tiny.en"]:
        await _fast_one(ctx, model, clip)


async def _fast_one(ctx: Context, model: str, clip: Clip) -> None:
    log.info(" %s: %.0f s of English, plain / recipe / fast-mode server, rotating", model, clip.seconds)
    sides = Sides()
    async with ctx.server(ServerConfig(model, fast_mode=True)) as srv:
        threads = srv.workers * srv.cpu_threads  # every side gets all the cores the server has
        with ctx.direct(model, threads) as plain, ctx.direct(model, threads, mode="recipe") as recipe:
            await warm(srv, plain, ctx.fixtures.jfk)
            recipe.run([ctx.fixtures.jfk.path])
            for r in range(ctx.long_repeats):
                order = SIDES[r % 3 :] + SIDES[: r % 3]
                for side in order:
                    await _run_side(side, srv, {"plain": plain, "recipe": recipe}, clip, sides)
            peaks = {"ours": srv.monitor.peak() if srv.monitor else 0.0, "recipe": recipe.monitor.peak()}
    _figures(ctx, model, clip, sides, threads, peaks)


async def _run_side(side: str, srv: Server, loops: dict[str, DirectLoop], clip: Clip, sides: Sides) -> None:
    if side == "ours":
        async with session(srv.url) as http:
            started = time.perf_counter()
            _, timings = await run_batch(http, [clip.path], 0.2)
            seconds, text = time.perf_counter() - started, timings[0].text
    else:
        result = loops[side].run([clip.path])
        seconds, text = result.seconds, result.texts[0]
    sides.seconds[side].append(seconds)
    sides.texts[side] = text


def _figures(ctx: Context, model: str, clip: Clip, sides: Sides, threads: int, peaks: dict[str, float]) -> None:
    assert clip.reference is not None
    errors = {side: align(clip.reference, sides.texts[side]) for side in SIDES}
    times = ", ".join(f"{s} {median(sides.seconds[s]):.1f} s" for s in SIDES)
    what = f"{model}, {clip.seconds:.0f} s speech"
    for slower, goal in (("recipe", 1.25), ("plain", 2.5)):  # issue 23: 2.5x plain, 1.25x the recipe
        ratios = sides.ratios(slower, "ours")
        ctx.add(
            Figure(
                2,
                f"fast-mode server speedup vs {_LABELS[slower]}, {what}",
                median(ratios),
                "x",
                f">= {goal}x",
                check(median(ratios), at_least=goal),
                f"{spread(ratios)}; medians {times} (all on {threads} threads)",
                {"ratios": ratios, "seconds": sides.seconds},
            )
        )
    for side in ("ours", "recipe"):
        delta = (errors[side].wer - errors["plain"].wer) * 100
        ctx.add(
            Figure(
                2,
                f"WER {side} - plain, {model} (English reference, normalised)",
                delta,
                "pt",
                "<= 0 pt" if side == "ours" else "report",
                check(delta, at_most=0.0) if side == "ours" else None,
                f"plain {_describe(errors['plain'])}; {side} {_describe(errors[side])}",
                {"plain": _errors(errors["plain"]), side: _errors(errors[side]), "text": sides.texts[side]},
            )
        )
    _memory_and_rates(ctx, model, clip, sides, peaks)


def _memory_and_rates(ctx: Context, model: str, clip: Clip, sides: Sides, peaks: dict[str, float]) -> None:
    ctx.add(
        Figure(
            6,
            f"peak RSS, {model} fast-mode server / batched recipe ({clip.seconds:.0f} s)",
            peaks["ours"] / peaks["recipe"] if peaks["recipe"] else None,
            "x",
            detail=f"server {peaks['ours']:.0f} MiB, recipe process {peaks['recipe']:.0f} MiB",
            data=peaks,
        )
    )
    for side in SIDES:
        ctx.rates.append(Throughput(f"fast mode {model}", _LABELS[side], clip.seconds, median(sides.seconds[side])))


_LABELS = {
    "plain": "plain transcribe(beam_size=5)",
    "recipe": "batched recipe (VAD, batch 8, beam 5)",
    "ours": "fast-mode server",
}


def _describe(e: Errors) -> str:
    return (
        f"WER {e.wer:.1%} ({e.substitutions} sub, {e.deletions} del, {e.insertions} ins; "
        f"{e.hypothesis_words}/{e.reference_words} words)"
    )


def _errors(e: Errors) -> dict[str, float]:
    return {
        "wer": e.wer,
        "deletion_rate": e.deletion_rate,
        "substitutions": e.substitutions,
        "deletions": e.deletions,
        "insertions": e.insertions,
        "reference_words": e.reference_words,
        "hypothesis_words": e.hypothesis_words,
    }
