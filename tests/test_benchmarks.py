"""The benchmarks' own logic (not speed): the stream simulation counts dropped audio correctly."""

import sys
import types

import numpy as np
import pytest

import audio
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import stream  # noqa: E402

EXAMPLE = REPO / "examples" / "03-01-05-02-01-01-13.wav"


@pytest.mark.parametrize("seconds_per_hop, dropped", [(0.002, False), (1.5, True)])
def test_simulated_stream_drops_audio_only_when_processing_lags(monkeypatch, seconds_per_hop, dropped):
    clock = [0.0]
    monkeypatch.setattr(stream, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    y = audio.load_audio(EXAMPLE)
    real_stream = np.tile(y, 20)[:60 * audio.SAMPLE_RATE]  # one minute of real speech

    def process(window):
        clock[0] += seconds_per_hop
        return stream.has_speech(window) or None

    state = stream.simulate(real_stream, {"fake": process}, audio.SAMPLE_RATE, log=lambda *_: None)["fake"]
    hops = (len(real_stream) - int(stream.WINDOW_SECONDS * audio.SAMPLE_RATE)) // int(stream.HOP_SECONDS * audio.SAMPLE_RATE) + 1
    assert len(state["times"]) == hops and state["predicted"] > 0
    assert (state["dropped"] > 0) == dropped
    if dropped:  # lagging 1 s per 0.5 s hop: most of the minute cannot fit in a 2 s ring
        assert state["dropped"] * stream.BLOCK_SECONDS > 30
