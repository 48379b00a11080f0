"""vad.py: real corpus speech is speech; generated silence, noise, tones, hum and clicks are not."""

import importlib.util

import numpy as np
import pytest

import audio
import vad
from conftest import REPO, real_file

SPEECH = ["RAVDESS/Actor_01/03-01-01-01-01-01-01.flac",   # neutral, normal intensity
          "RAVDESS/Actor_12/03-01-04-01-02-02-12.flac",   # sad, quiet
          "TESS/OAF_Sad/OAF_bite_sad.flac",
          "TESS/YAF_angry/YAF_back_angry.flac"]


def load_benchmark():
    """benchmarks/speech_detection.py as a module, for its generated non-speech."""
    spec = importlib.util.spec_from_file_location("speech_detection_benchmark",
                                                  REPO / "benchmarks" / "speech_detection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rel", SPEECH)
def test_corpus_speech_is_speech_even_quiet_or_in_noise(rel):
    y = audio.load_audio(real_file(rel))
    assert vad.is_speech(y)
    assert vad.is_speech(y * 10 ** (-30 / 20))                         # 30 dB quieter
    rng = np.random.default_rng(0)
    rms = np.sqrt(np.mean(audio.trim_silence(y) ** 2))
    assert vad.is_speech(y + rng.standard_normal(len(y)).astype(np.float32) * rms / 10)  # 20 dB SNR


def test_generated_non_speech_is_never_speech():
    bench = load_benchmark()
    called = [name for name, y in bench.nonspeech_signals(seed=0).items() if vad.is_speech(y)]
    assert called == []


def test_silence_empty_and_short_audio_are_no_speech():
    assert vad.detect(np.zeros(3 * audio.SAMPLE_RATE, np.float32)) == vad.Decision(False, 0.0, -120.0)
    assert not vad.is_speech(np.zeros(0, np.float32))
    assert not vad.is_speech(np.ones(100, np.float32))


def test_speech_between_long_silences_is_found_and_deterministic():
    y = audio.load_audio(real_file(SPEECH[2]))
    gap = np.zeros(5 * audio.SAMPLE_RATE, np.float32)
    long = np.concatenate([gap, y, gap])
    first, second = vad.detect(long), vad.detect(long)
    assert first == second and first.speech
    frames = vad.speech_frames(long)
    voiced_at = np.flatnonzero(frames) * vad.HOP / audio.SAMPLE_RATE
    assert voiced_at.min() >= 5.0 and voiced_at.max() <= 5.0 + len(y) / audio.SAMPLE_RATE
