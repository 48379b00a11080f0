"""experiments/modulation_voice.py: the modulation spectrum beside the third voice's functionals."""

import csv
import sys

import numpy as np
import pytest

from conftest import REPO, made_up_run, plumbing_third_voice, refuses_a_short_run, run_script

sys.path.insert(0, str(REPO / "experiments"))
import modulation_voice as mv  # noqa: E402
import audio  # noqa: E402
from create_features import load_features  # noqa: E402


def frames_with(rate_hz, seconds=3.0, band=5):
    """Log-mel frames (T, N_MELS) at a constant 40 dB, but for acoustic band ``band`` (its
    MOD_GROUP mel bands), whose level swings by 6 dB ``rate_hz`` times a second."""
    t = np.arange(int(seconds * mv.FRAME_RATE)) / mv.FRAME_RATE
    x = np.full((len(t), audio.N_MELS), 40.0)
    x[:, band * mv.MOD_GROUP:(band + 1) * mv.MOD_GROUP] += 6.0 * np.sin(2 * np.pi * rate_hz * t)[:, None]
    return x.astype(np.float32)


def test_a_band_swinging_at_a_rate_fills_that_octave_of_that_band():
    n_octaves = len(mv.MOD_EDGES_HZ) - 1
    for rate, octave in ((1.5, 1), (5.0, 3), (20.0, 5)):  # [1, 2), [4, 8) and [16, 32) Hz
        spectrum = mv.modulation_spectrum(frames_with(rate)).reshape(-1, n_octaves)
        assert spectrum.shape == (audio.N_MELS // mv.MOD_GROUP, n_octaves)
        assert np.argmax(spectrum[5]) == octave
        assert np.unravel_index(np.argmax(spectrum), spectrum.shape) == (5, octave)
        assert np.all(np.delete(spectrum, 5, axis=0) == -10.0)  # the steady bands: no modulation at all
    # The clip's level and length do not move it; a clip shorter than a segment still has one.
    x = frames_with(5.0)
    assert np.allclose(mv.modulation_spectrum(x - 20.0), mv.modulation_spectrum(x))
    short = mv.modulation_spectrum(frames_with(5.0, seconds=0.8))
    assert short.shape == (mv.N_MODULATION,) and np.argmax(short.reshape(-1, n_octaves)[5]) == 3


@pytest.mark.experiment_run
def test_the_script_trains_both_voices_blends_them_and_keeps_them(small_features, tmp_path, monkeypatch, capsys):
    plumbing_third_voice(monkeypatch)  # for both voices the script trains
    data = load_features(small_features)
    run_csv, out_csv, cache = tmp_path / "run.csv", tmp_path / "blended.csv", tmp_path / "cache"
    made_up_run(data, run_csv)
    lines = run_csv.read_text().splitlines()  # the same rows again under each robustness condition
    conditions = ("gain_-20db", "noise_10db", "noise_20db", "telephone")
    run_csv.write_text("\n".join(lines + [line.replace(",clean,", f",{c},", 1) for c in conditions
                                          for line in lines[1:]]) + "\n")
    args = ["--features", small_features, "--predictions", run_csv, "--fold-cache", cache, "--out", out_csv]
    mv.main([str(a) for a in args])
    printed = capsys.readouterr().out.splitlines()
    inputs = load_features(small_features)["functionals"].shape[1]
    assert f"third voice, functionals ({inputs} inputs):" in printed
    assert f"third voice, functionals + modulation ({inputs + mv.N_MODULATION} inputs):" in printed
    for arm in ("functionals", "functionals + modulation"):
        assert any(line.startswith(f"{run_csv}: {arm}: blended: overall ") for line in printed)
        assert any(line.startswith(f"{run_csv}: {arm}: under gain_-20db ") for line in printed)
    assert (cache / "third-voice-b-augmented.joblib").is_file()
    assert (cache / "modulation" / "third-voice-b-augmented.joblib").is_file()
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["condition"] for r in rows}) == ["clean", *conditions]
    assert len(rows) == 5 * len(data["path"])
    scored = run_script("neural_network.py", "--score-predictions", out_csv)
    assert scored.returncode == 0, scored.stderr


def test_a_bad_run_csv_or_a_stale_cache_is_one_line(small_features, tmp_path):
    data = load_features(small_features)
    run_csv = tmp_path / "run.csv"
    refuses_a_short_run("experiments/modulation_voice.py", small_features, run_csv, "--fold-cache", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before anything was trained
    made_up_run(data, run_csv)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "third-voice-b.joblib").write_bytes(b"not a kept classifier")
    result = run_script("experiments/modulation_voice.py", "--features", small_features, "--predictions", run_csv,
                        "--fold-cache", tmp_path / "cache")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "third-voice-b.joblib" in result.stderr
