"""audio.prosody: the pitch, loudness and voicing it reads from a clip, on sounds whose pitch and
loudness are known, and the same numbers in a features file as in prediction."""

import joblib
import numpy as np
import pytest

import audio
import augment
from create_features import FeaturesError, load_features

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
    assert values.shape == (audio.N_PROSODY,) and values.dtype == np.float32
    return dict(zip(audio.PROSODY_NAMES, values.tolist()))


def test_a_steady_voice_has_its_pitch_no_movement_and_is_voiced_throughout():
    for hz in (110.0, 220.0, 400.0):
        p = named(audio.prosody(voice(hz)))
        semitones = 12 * np.log2(hz / 100.0)
        assert abs(p["pitch median (semitones re 100 Hz)"] - semitones) < 0.3, (hz, p)
        assert p["pitch range, 10th to 90th percentile"] < 0.5
        assert abs(p["pitch slope (semitones/s)"]) < 0.5
        assert p["voiced share"] > 0.95
        assert p["voiced stretches per second"] < 1.0  # one stretch in 1.5 s
        assert abs(p["seconds"] - 1.5) < 0.05


def test_a_rising_voice_rises_and_a_falling_one_falls():
    # From 150 to 300 Hz in 1.5 s: 12 semitones, 8 a second.
    rising = named(audio.prosody(voice(lambda t: 150.0 * 2 ** (t / 1.5))))
    falling = named(audio.prosody(voice(lambda t: 300.0 * 2 ** (-t / 1.5))))
    assert 6.0 < rising["pitch slope (semitones/s)"] < 10.0
    assert -10.0 < falling["pitch slope (semitones/s)"] < -6.0
    assert rising["final pitch minus median"] > 3.0 > -3.0 > falling["final pitch minus median"]
    assert 6.0 < rising["pitch movement (mean |change|, semitones/s)"] < 10.0
    assert rising["pitch range, 10th to 90th percentile"] > 7.0


def test_loudness_that_fades_has_a_falling_slope_and_pauses_split_the_voicing():
    fading = named(audio.prosody(voice(200.0, gain=lambda t: 10 ** (-20 * t / 1.5 / 20))))  # -20 dB
    assert -16.0 < fading["loudness slope (dB/s)"] < -10.0
    # Three 0.3 s syllables with 0.2 s of near silence between them: 1.3 s once the last pause is
    # trimmed, 0.9 s of it voiced, and every frame (64 ms long) that reaches into a syllable is loud.
    pauses = named(audio.prosody(voice(200.0, gain=lambda t: np.where((t % 0.5) < 0.3, 1.0, 1e-3))))
    assert abs(pauses["seconds"] - 1.3) < 0.1
    assert 0.6 < pauses["voiced share"] < 0.85
    assert 0.25 < pauses["mean voiced stretch (s)"] < 0.4
    assert 1.5 < pauses["voiced stretches per second"] * pauses["seconds"] < 3.5  # three stretches
    assert pauses["loudness spread"] > fading["loudness spread"] / 2


def test_noise_is_not_voiced_and_gives_no_pitch():
    rng = np.random.default_rng(0)
    p = named(audio.prosody((0.1 * rng.standard_normal(SR)).astype(np.float32)))
    assert p["voiced share"] < 0.1
    if p["voiced share"] == 0:
        assert p["pitch median (semitones re 100 Hz)"] == 0.0


def test_features_file_holds_the_prosody_prediction_computes(small_features, small_dataset):
    data = load_features(small_features)
    assert data["prosody"].shape == (len(data["labels"]), audio.N_PROSODY) and data["prosody"].dtype == np.float32
    assert set(data["condition_prosody"]) == set(augment.CONDITIONS)
    for i in (0, len(data["labels"]) - 1):
        y = audio.load_audio(small_dataset / data["path"][i])
        np.testing.assert_array_equal(data["prosody"][i], audio.prosody(y))
        phone = augment.apply_condition(y, "telephone", augment.seed_for(data["path"][i], -1))
        np.testing.assert_array_equal(data["condition_prosody"]["telephone"][i], audio.prosody(phone))
        assert not np.array_equal(data["condition_prosody"]["telephone"][i], data["prosody"][i])


def test_a_features_file_without_prosody_is_refused_with_what_to_do(small_features, tmp_path):
    stored = joblib.load(small_features)
    for damage in ("prosody", "condition_prosody", "short"):
        broken = dict(stored)
        if damage == "short":
            broken["prosody"] = stored["prosody"][:-1]
        else:
            del broken[damage]
        path = tmp_path / f"{damage}.joblib"
        joblib.dump(broken, path)
        with pytest.raises(FeaturesError, match=rf"{path}: its prosody is missing .*re-run `python create_features.py`"):
            load_features(path)


def test_yin_is_librosas_to_the_bit_without_importing_it(small_features, small_dataset):
    # The features were made, and the partner trained, with the pitch of this function; librosa.yin
    # (center=False) on the same audio at PITCH_RATE gives the same bits, checked on real clips and
    # a synthetic glide.
    import librosa

    data = load_features(small_features)
    clips = [audio.trim_silence(audio.load_audio(small_dataset / data["path"][i])) for i in (0, 7, 40, -1)]
    clips.append(voice(lambda t: 150.0 * 2 ** (t / 1.5)))
    for y in clips:
        frames = audio.pitch_frames(y)
        y = np.asarray(y, dtype=np.float32)
        halved = y[:len(y) // 2 * 2].reshape(-1, 2).mean(axis=1)  # each pair averaged, as pitch_frames does
        np.testing.assert_array_equal(frames[0, :10], halved[:10])
        expected = librosa.yin(halved, fmin=audio.PITCH_FMIN, fmax=audio.PITCH_FMAX, sr=audio.PITCH_RATE,
                               frame_length=audio.PITCH_FRAME, hop_length=audio.PITCH_HOP, center=False)
        assert len(frames) == len(expected)
        np.testing.assert_array_equal(audio.yin(frames), expected)


def test_the_frame_power_a_caller_already_has_gives_the_same_prosody():
    y = voice(lambda t: 150.0 * 2 ** (t / 1.5), gain=lambda t: np.where((t % 0.5) < 0.3, 1.0, 1e-3))
    y = np.concatenate([np.zeros(SR // 4, np.float32), y])  # a pause to trim first
    power = audio.frame_power(y)
    np.testing.assert_array_equal(audio.prosody(y, power=power), audio.prosody(y))
    # Someone else's power is used as given (so it must be this clip's): a louder start trims less.
    other = power.copy()
    other[:5] = power.max()
    assert audio.prosody(y, power=other)[0] > audio.prosody(y)[0]  # seconds
