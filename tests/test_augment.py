"""Augmentation and the robustness conditions, on a real corpus clip."""

import numpy as np
import pytest

import audio
import augment
from conftest import real_file

CLIP = "RAVDESS/Actor_08/03-01-03-02-02-01-08.flac"


@pytest.fixture(scope="module")
def clip():
    return audio.load_audio(real_file(CLIP))


def test_copies_are_repeatable_and_differ_by_seed(clip):
    a = augment.augment(clip, np.random.default_rng(augment.seed_for("x.flac", 0)))
    b = augment.augment(clip, np.random.default_rng(augment.seed_for("x.flac", 0)))
    c = augment.augment(clip, np.random.default_rng(augment.seed_for("x.flac", 1)))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.abs(a).max() <= 1.0
    assert len(c) != len(a) or not np.allclose(a, c)
    assert 0.85 * len(clip) < len(a) < 1.15 * len(clip)


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
def test_noise_lands_at_the_asked_snr(clip, snr):
    noisy = augment.add_noise(clip, snr, np.random.default_rng(0))
    noise = noisy - clip
    measured = 10 * np.log10(augment.speech_power(clip) / np.mean(noise.astype(np.float64) ** 2))
    assert abs(measured - snr) < 0.2


def test_conditions(clip):
    quiet = augment.apply_condition(clip, "gain_-20db")
    np.testing.assert_allclose(quiet, clip * 0.1, atol=1e-6)
    phone = augment.apply_condition(clip, "telephone")
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(len(phone), 1 / audio.SAMPLE_RATE)
    inside = spectrum[(freqs > 400) & (freqs < 3000)].mean()
    assert spectrum[freqs > 5000].mean() < inside * 1e-3
    with pytest.raises(ValueError, match="unknown condition"):
        augment.apply_condition(clip, "underwater")


def test_pitch_shift_moves_the_spectrum_up(clip):
    up = augment.shift_pitch(clip, 2.0)
    assert len(up) == len(clip)
    freqs = np.fft.rfftfreq(len(clip), 1 / audio.SAMPLE_RATE)
    centroid = lambda y: np.sum(freqs * np.abs(np.fft.rfft(y))) / np.sum(np.abs(np.fft.rfft(y)))
    assert centroid(up) > centroid(clip) * 1.03
