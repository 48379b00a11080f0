"""experiments/prosody_partner.py: the prosody it reads from a clip, on sounds whose pitch and
loudness are known, and its scaling by the training files."""

import sys
from pathlib import Path

import numpy as np

import audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import prosody_partner as pp  # noqa: E402

SR = audio.SAMPLE_RATE


def voice(f0, seconds=1.5, *, gain=None):
    """A buzz with harmonics (a crude vowel) whose pitch follows f0 (Hz, a number or a function of
    time in seconds), scaled by ``gain`` (a function of time), as (n_samples,) float32."""
    t = np.arange(int(seconds * SR)) / SR
    freq = np.full_like(t, f0) if np.isscalar(f0) else f0(t)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 6))
    if gain is not None:
        y = y * gain(t)
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


def named(values):
    assert values.shape == (pp.N_PROSODY,) and values.dtype == np.float32
    return dict(zip(pp.PROSODY_NAMES, values.tolist()))


def test_a_steady_voice_has_its_pitch_no_movement_and_is_voiced_throughout():
    for hz in (110.0, 220.0, 400.0):
        p = named(pp.prosody(voice(hz)))
        semitones = 12 * np.log2(hz / 100.0)
        assert abs(p["pitch median (semitones re 100 Hz)"] - semitones) < 0.3, (hz, p)
        assert p["pitch range, 10th to 90th percentile"] < 0.5
        assert abs(p["pitch slope (semitones/s)"]) < 0.5
        assert p["voiced share"] > 0.95
        assert p["voiced stretches per second"] < 1.0  # one stretch in 1.5 s
        assert abs(p["seconds"] - 1.5) < 0.05


def test_a_rising_voice_rises_and_a_falling_one_falls():
    # From 150 to 300 Hz in 1.5 s: 12 semitones, 8 a second.
    rising = named(pp.prosody(voice(lambda t: 150.0 * 2 ** (t / 1.5))))
    falling = named(pp.prosody(voice(lambda t: 300.0 * 2 ** (-t / 1.5))))
    assert 6.0 < rising["pitch slope (semitones/s)"] < 10.0
    assert -10.0 < falling["pitch slope (semitones/s)"] < -6.0
    assert rising["final pitch minus median"] > 3.0 > -3.0 > falling["final pitch minus median"]
    assert 6.0 < rising["pitch movement (mean |change|, semitones/s)"] < 10.0
    assert rising["pitch range, 10th to 90th percentile"] > 7.0


def test_loudness_that_fades_has_a_falling_slope_and_pauses_split_the_voicing():
    fading = named(pp.prosody(voice(200.0, gain=lambda t: 10 ** (-20 * t / 1.5 / 20))))  # -20 dB
    assert -16.0 < fading["loudness slope (dB/s)"] < -10.0
    # Three 0.3 s syllables with 0.2 s of near silence between them: 1.3 s once the last pause is
    # trimmed, 0.9 s of it voiced, and every frame (64 ms long) that reaches into a syllable is loud.
    pauses = named(pp.prosody(voice(200.0, gain=lambda t: np.where((t % 0.5) < 0.3, 1.0, 1e-3))))
    assert abs(pauses["seconds"] - 1.3) < 0.1
    assert 0.6 < pauses["voiced share"] < 0.85
    assert 0.25 < pauses["mean voiced stretch (s)"] < 0.4
    assert 1.5 < pauses["voiced stretches per second"] * pauses["seconds"] < 3.5  # three stretches
    assert pauses["loudness spread"] > fading["loudness spread"] / 2


def test_noise_is_not_voiced_and_gives_no_pitch():
    rng = np.random.default_rng(0)
    p = named(pp.prosody((0.1 * rng.standard_normal(SR)).astype(np.float32)))
    assert p["voiced share"] < 0.1
    if p["voiced share"] == 0:
        assert p["pitch median (semitones re 100 Hz)"] == 0.0


def test_standardise_scales_by_the_training_rows_only():
    x = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    x[:, 1, 1] = 5.0  # a value that never changes is left unscaled, not divided by 0
    train = np.array([0, 1, 2])
    z = pp.standardise(x, train)
    np.testing.assert_allclose(z[train, 0, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[train, 0, 0].std(), 1.0, rtol=1e-5)
    assert z[5, 0, 0] > z[2, 0, 0] + 1.0  # the test rows are moved by the training rows' statistics
    np.testing.assert_allclose(z[:, 1, 1], 0.0)
