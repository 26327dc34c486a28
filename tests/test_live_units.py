"""The live pieces on their own: LocalAgreement, the forced prefix, the prompt carried, the VAD, the resampler."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.live_support import pcm
from tests.support import CLIPS
from transcriber.jobs.live_turns import TurnTracker
from transcriber.speech.live import Agreement, carry_prompt, strip_prefix
from transcriber.speech.live_audio import PcmResampler
from transcriber.speech.live_vad import StreamVad, TurnDetection


def test_agreement_sends_only_what_two_hypotheses_agree_on_and_never_takes_it_back() -> None:
    a = Agreement()
    assert a.update(" The weather test.") == ""
    assert a.update(" The weather today is...") == "The weather"
    # Each later hypothesis continues after what was sent (the decoder forces it as a prefix).
    assert a.update(" today is warm.") == " today is"
    assert a.update(" warm and sunny.") == " warm"
    assert a.finish(" and sunny. We walked.") == " and sunny. We walked."
    assert a.text == "The weather today is warm and sunny. We walked."


def test_a_final_that_only_repeats_the_last_words_adds_nothing() -> None:
    a = Agreement()
    a.update(" The sky became dark and quiet.")
    a.update(" The sky became dark and quiet.")
    assert a.text == "The sky became dark and"  # the last word waits: it may be cut off
    assert a.finish(" became dark and") == ""
    assert a.text == "The sky became dark and"


def test_the_last_word_of_a_hypothesis_waits_for_one_that_goes_past_it() -> None:
    a = Agreement()
    assert a.update(" Hello and welcome to the sp") == ""
    assert a.update(" Hello and welcome to the sp") == "Hello and welcome to the"
    assert a.update(" speech test.") == ""  # "sp" was never sent, so nothing needs taking back
    assert a.finish(" speech test.") == " speech test."


@given(st.lists(st.lists(st.sampled_from([" a", " b", " c.", " d,", " e"]), max_size=6), max_size=8))
def test_the_deltas_always_join_to_the_transcript(hypotheses: list[list[str]]) -> None:
    a = Agreement()
    sent = [a.update("".join(h)) for h in hypotheses[:-1]]
    sent.append(a.finish("".join(hypotheses[-1]) if hypotheses else ""))
    assert "".join(sent) == a.text
    assert not a.text.startswith(" ")


def test_strip_prefix_and_prompt() -> None:
    assert strip_prefix(" The weather today is warm.", "The weather today") == " is warm."
    assert strip_prefix(" the weather, today is warm.", "The weather today") == " is warm."
    assert strip_prefix(" Hello.", "") == " Hello."
    assert carry_prompt("Names: Anna.", ["First turn.", "", "Second turn."]) == "Names: Anna. First turn. Second turn."
    assert len(carry_prompt("", ["word " * 200])) <= 200


def test_stream_vad_finds_the_speech_in_any_chunking() -> None:
    speech = np.frombuffer(pcm(CLIPS / "hello.wav", 16000), dtype="<i2").astype(np.float32) / 32768
    stream = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    for chunk in (512, 1600, 4001):
        vad = StreamVad(TurnDetection(0.5, 300, 500))
        events = [e for at in range(0, len(stream), chunk) for e in vad.feed(stream[at : at + chunk])]
        assert [e.kind for e in events] == ["start", "stop"], events
        assert 0.5 <= events[0].sample / 16000 <= 1.2  # speech at 1.0 s, less the 300 ms padding
        assert 3.5 <= events[1].sample / 16000 <= 4.6


def test_resampling_does_not_depend_on_how_the_stream_is_cut() -> None:
    data = pcm(CLIPS / "hello.wav", 24000)
    whole = PcmResampler(24000)
    one = np.concatenate([whole.feed(data), whole.flush()])
    cut = PcmResampler(24000)
    pieces = [cut.feed(data[i : i + 999]) for i in range(0, len(data), 999)] + [cut.flush()]
    two = np.concatenate(pieces)
    assert abs(len(one) - len(data) / 2 / 1.5) < 50 and len(one) == len(two)
    assert np.allclose(one, two, atol=1e-4)


def test_a_commit_while_someone_speaks_starts_the_next_turn_at_once() -> None:
    speech = np.frombuffer(pcm(CLIPS / "hello.wav", 16000), dtype="<i2").astype(np.float32) / 32768
    stream = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    seen: list[tuple[str, str]] = []
    tracker = TurnTracker(TurnDetection(), 20.0, lambda what, turn: seen.append((what, turn.item_id)))
    half = 8000 + len(speech) // 2
    tracker.feed(stream[:half])
    first = tracker.commit()
    assert first is not None and first.closed and tracker.open is not None  # the speaker goes on
    tracker.feed(stream[half:])
    kinds = [what for what, _ in seen]
    assert kinds == ["started", "committed", "started", "stopped", "committed"], kinds
    assert seen[2][1] != first.item_id and tracker.open is None
