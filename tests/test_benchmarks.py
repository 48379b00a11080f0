"""The benchmarks' own logic (not speed): the stream simulation counts dropped audio correctly,
and each benchmark runs what it says it times."""

import sys
import types

import numpy as np
import pytest

import audio
import corpus
import model as model_lib
from conftest import REPO, run_script

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


def test_benchmarks_time_the_shipped_model_as_it_predicts_and_a_plain_cnn_beside_it(tmp_path):
    """The speed table must time what ships: a model with test-time noise is timed with its noisy
    copy, under its own label, and a cnn predicting each clip alone beside it; a plain cnn alone."""
    import common

    shipped = common.cnn_predictor(tmp_path / "noisy", 20.0)
    timed = common.our_predictors(tmp_path / "noisy", tmp_path / "plain")
    assert [(key, label) for key, label, _ in timed] == [
        ("ours", "ours (cnn, test-time noise 20 dB)"), ("cnn", "ours (cnn, each clip alone)")]
    assert timed[0][2].noise_db == 20.0 and timed[1][2].noise_db is None
    y = audio.load_audio(EXAMPLE)
    assert timed[0][2].predict_waveform(y) == shipped.predict_waveform(y)
    plain = common.our_predictors(tmp_path / "plain", tmp_path / "unused")
    assert [(key, label) for key, label, _ in plain] == [("ours", "ours (cnn)")]
    assert not (tmp_path / "unused").exists()
    fns = stream.methods(tmp_path / "noisy", tmp_path / "again", which=("ours", "cnn"))
    assert list(fns) == ["ours (cnn, test-time noise 20 dB)", "ours (cnn, each clip alone)"]
    # Warped views are named too, and even without noise they are not "each clip alone".
    model_lib.save(model_lib.build("cnn"), tmp_path / "warped", arch="cnn", test_time_warps=(0.9, 1.1))
    timed = common.our_predictors(tmp_path / "warped", tmp_path / "alone")
    assert [label for _, label, _ in timed] == ["ours (cnn, warps 0.9,1.1)", "ours (cnn, each clip alone)"]
    # A third voice is named, and timed with it (model.Predictor computes every clip's functionals).
    n = len(corpus.EMOTIONS)
    third = {"mean": np.zeros(audio.N_FUNCTIONALS), "scale": np.ones(audio.N_FUNCTIONALS), "c": 0.01,
             "coef": np.zeros((n, audio.N_FUNCTIONALS)), "intercept": np.zeros(n), "weight": 0.1}
    model_lib.save(model_lib.build("cnn"), tmp_path / "third", arch="cnn", third_voice=third)
    timed = common.our_predictors(tmp_path / "third", tmp_path / "alone_too")
    assert [label for _, label, _ in timed] == ["ours (cnn, third voice at 0.1)", "ours (cnn, each clip alone)"]
    assert timed[0][2].needs_functionals and not timed[1][2].needs_functionals


def test_train_step_benchmark_times_each_tower_set_and_refuses_unknown_towers():
    from conftest import run_script

    result = run_script("benchmarks/train_step.py", "t40", "t40+f40", "--reps", "1")
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| t40")]
    assert [r[1].strip() for r in rows] == ["t40", "t40+f40"]
    ms = [float(r[2]) for r in rows]
    assert all(m > 0 for m in ms) and float(rows[0][3]) == 1.0
    assert float(rows[1][3]) == pytest.approx(ms[1] / ms[0], abs=0.02)  # relative to the first set
    assert "oneDNN on" in result.stdout and "oneDNN custom operations are on" in result.stderr
    # --onednn off turns TensorFlow's oneDNN kernels off (it no longer says they are on as it starts),
    # and the table says so.
    result = run_script("benchmarks/train_step.py", "t40", "--reps", "1", "--onednn", "off")
    assert result.returncode == 0, result.stderr
    assert "oneDNN off" in result.stdout and "oneDNN custom operations are on" not in result.stderr
    result = run_script("benchmarks/train_step.py", "t40+nope")
    assert result.returncode == 2 and "unknown towers nope; choose from t40" in result.stderr


def test_blas_threads_benchmark_fits_under_both_limits_and_refuses_bad_input(small_features, tmp_path):
    import blas_threads

    lines = []
    medians, threads = blas_threads.fit_times(small_features, files=40, fits=1, log=lines.append)
    assert set(medians) == {1, None} and all(s > 0 for s in medians.values())
    assert threads >= 1 and lines[0].startswith("40 clips of 2036 numbers, C ")
    # From the command line: the table, and a missing features file in one line.
    result = run_script("benchmarks/blas_threads.py", "--features", small_features, "--files", "40", "--fits", "1")
    assert result.returncode == 0, result.stderr
    assert "| 1 | " in result.stdout and "one thread is " in result.stdout
    result = run_script("benchmarks/blas_threads.py", "--features", tmp_path / "none.joblib")
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none.joblib'}: no features file; run `python create_features.py` first"]


def test_long_file_benchmark_times_both_methods_on_the_example_repeated(tmp_path):
    import long_file

    path = tmp_path / "long.wav"
    assert long_file.write_long_file(path, 0.5) == 30.0
    y, example = audio.load_audio(path), audio.load_audio(EXAMPLE)
    assert len(y) == 30 * audio.SAMPLE_RATE
    np.testing.assert_allclose(y[len(example):2 * len(example)], example, atol=1e-4)  # 16-bit WAV
    result = run_script("benchmarks/long_file.py", "--minutes", "0.5", "--runs", "1")
    assert result.returncode == 0, result.stderr[-500:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| one file of 0.5 minutes")]
    assert [line.split(" | ")[1] for line in rows] == ["wall time", "peak memory"]
    assert all(float(line.split(" | ")[3].rstrip(" sMB")) > 0 for line in rows)  # ours timed too
    refused = run_script("benchmarks/long_file.py", "--minutes", "0.01")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "--minutes 0.01" in refused.stderr
