"""What a real microphone and room do to a voice, for training and for the robustness report.

Training copies (``augment``) draw random noise, gain, speed (pitch and tempo together), pitch,
reverberation and band limits; the robustness report (``CONDITIONS``) applies fixed distortions.
Every function takes and returns mono float32 audio at audio.SAMPLE_RATE, shape (n_samples,).

    rng = np.random.default_rng(seed_for("RAVDESS/Actor_01/03-01-01-01-01-01-01.flac", 0))
    z = augment(y, rng)                      # one random training copy
    z = apply_condition(y, "noise_10db")     # a fixed robustness condition
"""

import zlib

import numpy as np

import audio

# Training copies: additive noise (white, pink or brown) at an SNR drawn from this range, in dB.
NOISE_SNR_DB = (5.0, 30.0)
# ... added to this share of the copies.
NOISE_PROB = 0.7
# Gain in dB drawn for every copy (the result is clipped to [-1, 1] as a sound card would).
GAIN_DB = (-20.0, 6.0)
# Speed change by resampling: pitch and tempo move together by this factor.
SPEED = (0.9, 1.1)
# Pitch shift in semitones (tempo kept), applied to this share of the copies.
PITCH_SEMITONES = (-2.0, 2.0)
PITCH_PROB = 0.3
# Reverberation: an exponentially decaying noise room response with RT60 in seconds.
RT60_S = (0.15, 0.7)
REVERB_PROB = 0.4
# Band limits: a telephone band or a low-pass at a random cut-off, for this share of the copies.
BAND_PROB = 0.3
TELEPHONE_BAND_HZ = (300.0, 3400.0)
LOWPASS_HZ = (2500.0, 6000.0)

# The fixed conditions of the robustness report, applied to every test file under protocol (b).
CONDITIONS = ("noise_20db", "noise_10db", "gain_-20db", "telephone")


def seed_for(relpath, copy):
    """A seed fixed by a file's relative path and copy number, whatever process computes it."""
    return zlib.crc32(f"{relpath}#{copy}".encode())


def speech_power(y):
    """Mean power of the clip between its first and last loud frame (the speech, not the pauses)."""
    core = audio.trim_silence(y)
    return float(np.mean(np.square(core, dtype=np.float64))) if len(core) else 0.0


def coloured_noise(n, colour, rng):
    """Unit-power noise of length n: white, pink (1/f) or brown (1/f^2)."""
    white = rng.standard_normal(n)
    if colour == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        spectrum /= f ** (0.5 if colour == "pink" else 1.0)
        noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def add_noise(y, snr_db, rng, colour="white"):
    """y plus noise at ``snr_db`` below the speech power."""
    power = speech_power(y)
    if power <= 0:
        return y
    scale = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (y + scale * coloured_noise(len(y), colour, rng)).astype(np.float32)


def gain(y, db):
    """y scaled by ``db`` decibels and clipped to [-1, 1]."""
    return np.clip(y * 10.0 ** (db / 20.0), -1.0, 1.0).astype(np.float32)


def change_speed(y, factor):
    """Play y ``factor`` times faster (pitch up and shorter for factor > 1), by resampling."""
    import soxr
    return soxr.resample(y, audio.SAMPLE_RATE * factor, audio.SAMPLE_RATE,
                         quality=audio.RESAMPLE_QUALITY).astype(np.float32)


def shift_pitch(y, semitones):
    """y with its pitch moved by ``semitones``, its duration kept (librosa's phase vocoder)."""
    import librosa
    return librosa.effects.pitch_shift(y, sr=audio.SAMPLE_RATE, n_steps=semitones).astype(np.float32)


def reverberate(y, rt60, rng):
    """y in a synthetic room: convolved with exponentially decaying noise of reverberation time rt60."""
    from scipy.signal import fftconvolve
    n = int(rt60 * audio.SAMPLE_RATE)
    t = np.arange(n) / audio.SAMPLE_RATE
    response = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    response[0] = 1.0 / 0.3  # the direct sound stays the strongest part
    response *= 0.3 / np.sqrt(np.sum(response ** 2))
    wet = fftconvolve(y, response)[: len(y)]
    peak = np.max(np.abs(wet))
    return (wet * (np.max(np.abs(y)) / peak) if peak > 0 else wet).astype(np.float32)


def band_limit(y, low_hz=None, high_hz=None):
    """y through a 4th-order Butterworth band-pass (or low-pass when low_hz is None)."""
    from scipy.signal import butter, sosfiltfilt
    nyquist = audio.SAMPLE_RATE / 2
    if low_hz is None:
        sos = butter(4, high_hz / nyquist, btype="lowpass", output="sos")
    else:
        sos = butter(4, [low_hz / nyquist, high_hz / nyquist], btype="bandpass", output="sos")
    return sosfiltfilt(sos, y).astype(np.float32)


def augment(y, rng):
    """One random training copy of y: speed, maybe pitch, reverb, band limit and noise, then gain."""
    y = change_speed(y, rng.uniform(*SPEED))
    if rng.random() < PITCH_PROB:
        y = shift_pitch(y, rng.uniform(*PITCH_SEMITONES))
    if rng.random() < REVERB_PROB:
        y = reverberate(y, rng.uniform(*RT60_S), rng)
    if rng.random() < BAND_PROB:
        if rng.random() < 0.5:
            y = band_limit(y, *TELEPHONE_BAND_HZ)
        else:
            y = band_limit(y, None, rng.uniform(*LOWPASS_HZ))
    if rng.random() < NOISE_PROB:
        y = add_noise(y, rng.uniform(*NOISE_SNR_DB), rng, rng.choice(["white", "pink", "brown"]))
    return gain(y, rng.uniform(*GAIN_DB))


def apply_condition(y, condition, seed=0):
    """y under one fixed robustness condition (see CONDITIONS)."""
    rng = np.random.default_rng(seed)
    if condition == "noise_20db":
        return add_noise(y, 20.0, rng)
    if condition == "noise_10db":
        return add_noise(y, 10.0, rng)
    if condition == "gain_-20db":
        return gain(y, -20.0)
    if condition == "telephone":
        return band_limit(y, *TELEPHONE_BAND_HZ)
    raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
