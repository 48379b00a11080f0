"""The front end on real corpus files, on every format a user may hand it, and on bad files."""

import numpy as np
import pytest
import soundfile as sf
import soxr

import audio
from conftest import real_file

ANGRY = "RAVDESS/Actor_13/03-01-05-02-01-01-13.flac"
STEREO = "RAVDESS/Actor_01/03-01-02-01-01-02-01.flac"   # one of the five 2-channel originals
TESS_CLIP = "TESS/OAF_Fear/OAF_food_fear.flac"


def test_real_file_is_mono_float_at_working_rate():
    path = real_file(ANGRY)
    y = audio.load_audio(path)
    info = sf.info(str(path))
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == info.frames and info.samplerate == audio.SAMPLE_RATE
    assert 0.05 < np.abs(y).max() <= 1.0


def test_stereo_corpus_file_is_mixed_down():
    path = real_file(STEREO)
    data, _ = sf.read(str(path), dtype="float32")
    assert data.ndim == 2 and data.shape[1] == 2
    np.testing.assert_allclose(audio.load_audio(path), data.mean(axis=1), atol=1e-7)


def test_features_shape_and_match_librosa():
    import librosa
    y = audio.load_audio(real_file(TESS_CLIP))
    S = audio.log_mel(y)
    assert S.shape == (1 + (len(y) - audio.N_FFT) // audio.HOP_LENGTH, audio.N_MELS)
    ref = librosa.feature.melspectrogram(
        y=y, sr=audio.SAMPLE_RATE, n_fft=audio.N_FFT, win_length=audio.WIN_LENGTH,
        hop_length=audio.HOP_LENGTH, center=False, n_mels=audio.N_MELS, fmin=audio.FMIN,
        fmax=audio.FMAX, window="hann")
    np.testing.assert_allclose(S, 10 * np.log10(np.maximum(ref, audio.POWER_FLOOR)).T, atol=1e-3)
    C = audio.mfcc(S)
    ref_c = librosa.feature.mfcc(S=S.T, n_mfcc=audio.N_MFCC).T
    assert C.shape == (len(S), audio.N_MFCC)
    np.testing.assert_allclose(C, ref_c, atol=1e-2)


def test_mel_power_is_the_filterbank_product_in_the_same_bits_whatever_the_threads():
    import threadpoolctl

    spec = audio.spectrum(audio.load_audio(real_file(TESS_CLIP)))
    power = spec.real ** 2 + spec.imag ** 2
    mel = audio.mel_power(power)
    assert mel.shape == (len(power), audio.N_MELS) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, power.astype(np.float64) @ audio.mel_filterbank(), rtol=1e-5, atol=1e-30)
    # create_features.py's worker processes run with one BLAS thread; a predicting process with all.
    with threadpoolctl.threadpool_limits(1):
        np.testing.assert_array_equal(audio.mel_power(power), mel)
    # More frames than one step of its loop: where a frame falls does not change its values.
    long = np.concatenate([power] * (audio._MEL_CHUNK // len(power) + 2))
    np.testing.assert_array_equal(audio.mel_power(long)[-len(power):], mel)


def test_trim_cuts_leading_and_trailing_silence():
    y = audio.load_audio(real_file(ANGRY))
    pad = np.zeros(audio.SAMPLE_RATE, np.float32)
    padded = np.concatenate([pad, y, pad])
    trimmed = audio.trim_silence(padded)
    assert len(trimmed) < len(y)  # the corpus file's own quiet lead-in goes too
    assert np.array_equal(audio.trim_silence(pad), pad)  # nothing to keep: returned as is


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_every_wav_sample_format_gives_the_same_features(tmp_path, subtype):
    y = audio.load_audio(real_file(ANGRY))
    path = tmp_path / f"clip_{subtype}.wav"
    sf.write(path, y, audio.SAMPLE_RATE, subtype=subtype)
    z = audio.load_audio(path)
    tolerance = 1e-2 if subtype == "PCM_U8" else 1e-4
    np.testing.assert_allclose(z, y, atol=tolerance)
    if subtype != "PCM_U8":
        assert np.abs(audio.features(z) - audio.features(y)).mean() < 0.05


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 24414, 32000, 44100, 48000, 96000])
def test_any_rate_is_resampled_to_the_working_rate(tmp_path, rate):
    y = audio.load_audio(real_file(ANGRY))
    path = tmp_path / f"clip_{rate}.wav"
    sf.write(path, soxr.resample(y, audio.SAMPLE_RATE, rate), rate, subtype="PCM_16")
    z = audio.load_audio(path)
    assert abs(len(z) - len(y)) <= 2
    n = min(len(z), len(y))
    # Above 16 kHz nothing audible is lost; below it the band above rate/2 is gone.
    if rate >= audio.SAMPLE_RATE:
        assert np.corrcoef(z[:n], y[:n])[0, 1] > 0.999
    else:
        assert np.corrcoef(z[:n], y[:n])[0, 1] > 0.9


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_mixed_to_mono(tmp_path, channels):
    y = audio.load_audio(real_file(ANGRY))
    gains = np.linspace(0.2, 1.0, channels, dtype=np.float32)
    path = tmp_path / f"clip_{channels}ch.wav"
    sf.write(path, y[:, None] * gains[None, :], audio.SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(audio.load_audio(path), y * gains.mean(), atol=1e-6)


def test_long_file_is_read_whole(tmp_path):
    y = audio.load_audio(real_file(ANGRY))
    ten_minutes = np.tile(y, int(np.ceil(600 * audio.SAMPLE_RATE / len(y))))[:600 * audio.SAMPLE_RATE]
    path = tmp_path / "ten_minutes.wav"
    sf.write(path, ten_minutes, audio.SAMPLE_RATE, subtype="PCM_16")
    assert len(audio.load_audio(path)) == 600 * audio.SAMPLE_RATE


def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path):
    cases = {}
    cases["missing.wav"] = ("no such file", None)
    (tmp_path / "empty.wav").write_bytes(b"")
    cases["empty.wav"] = ("empty file", None)
    (tmp_path / "text.wav").write_text("this is not audio\n" * 20)
    cases["text.wav"] = ("not a readable audio file", None)
    (tmp_path / "video.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    cases["video.mp4"] = ("Mp4ToWav.py", None)
    for name, (problem, _) in cases.items():
        with pytest.raises(audio.AudioError, match=problem) as info:
            audio.load_audio(tmp_path / name)
        message = str(info.value)
        assert message.startswith(str(tmp_path / name)) and "\n" not in message


def test_truncated_wav_reads_what_is_there(tmp_path):
    y = audio.load_audio(real_file(ANGRY))
    whole = tmp_path / "whole.wav"
    sf.write(whole, y, audio.SAMPLE_RATE, subtype="PCM_16")
    cut = tmp_path / "truncated.wav"
    cut.write_bytes(whole.read_bytes()[: 44 + 2 * 20000])   # header claims more than is there
    z = audio.load_audio(cut)
    assert len(z) == 20000
    np.testing.assert_allclose(z, y[:20000], atol=1e-4)


def test_short_and_silent_clips_are_refused():
    with pytest.raises(audio.AudioError, match=r"too short \(0.10 s\)"):
        audio.check_clip(np.ones(1600, np.float32) * 0.1, "short.wav")
    with pytest.raises(audio.AudioError, match="digital silence"):
        audio.check_clip(np.zeros(audio.SAMPLE_RATE * 2, np.float32), "silence.wav")
    audio.check_clip(np.full(audio.SAMPLE_RATE, 0.01, np.float32), "ok.wav")


def test_non_finite_samples_are_refused(tmp_path):
    y = np.zeros(audio.SAMPLE_RATE, np.float32)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, audio.SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(audio.AudioError, match="NaN"):
        audio.load_audio(path)
