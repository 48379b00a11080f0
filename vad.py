"""Speech or no speech: the one decision every live script makes before it names an emotion.

Works on mono SAMPLE_RATE float audio from audio.py, offline and fast (numpy only). Each 25 ms
frame (10 ms hop) is measured in the speech band (BAND_HZ): its level, its spectral flatness and
its voicing (the normalised autocorrelation peak at a pitch period of 80-400 Hz). A frame is
*voiced speech* when it is

- loud: SNR_DB above the clip's own noise floor (its FLOOR_PERCENTILE quietest frame level) and
  above MIN_LEVEL_DB, so steady noise, hum and tones never count, however loud;
- periodic: a pitch peak of at least MIN_VOICING, so noise bursts and clicks never count;
- harmonic but not a pure tone: spectral flatness between MIN_FLATNESS (a sine or a beep is far
  below it) and MAX_FLATNESS (noise is far above it).

A clip holds speech when at least MIN_VOICED_SECONDS of its frames are voiced speech. The
thresholds were set on the corpora and on generated non-speech; benchmarks/speech_detection.py
measures them (see the README).

    decision = detect(y)          # Decision(speech=True, voiced_seconds=1.42, peak_db=-3.1)
    is_speech(y)                  # True
"""

import dataclasses

import numpy as np

import audio

# Analysis frame and hop in samples at audio.SAMPLE_RATE: 25 ms frames every 10 ms (as audio.py).
FRAME = audio.WIN_LENGTH
HOP = audio.HOP_LENGTH
# FFT size: twice the frame, so the autocorrelation computed from the spectrum is not circular.
N_FFT = 1024
# The speech band in Hz: levels, flatness and voicing are measured here only (drops DC, rumble,
# brown noise's low end and the mains fundamental).
BAND_HZ = (100.0, 4000.0)
# Pitch range searched for voicing, in Hz (covers low male to high female and child voices).
PITCH_HZ = (80.0, 400.0)
# Smallest normalised autocorrelation peak for a frame to count as voiced (1.0 = perfectly periodic).
MIN_VOICING = 0.6
# Spectral flatness (geometric / arithmetic mean of the band's power spectrum) of a voiced frame:
# pure tones lie near 1e-8, speech between about 3e-4 and 0.05, noise near 0.3 or above.
MIN_FLATNESS = 1e-5
MAX_FLATNESS = 0.2
# The noise floor is this percentile of the clip's frame levels (dB).
FLOOR_PERCENTILE = 10
# A frame must be this many dB above the noise floor to count as speech.
SNR_DB = 12.0
# ... and above this absolute level (dB re full-scale RMS): 16-bit dither and faint hiss never count.
MIN_LEVEL_DB = -80.0
# A clip is speech when it holds at least this many seconds of voiced-speech frames.
MIN_VOICED_SECONDS = 0.12
# Frames analysed per block (bounds memory on long files).
BLOCK_FRAMES = 4096

_WINDOW = np.hanning(FRAME + 2)[1:-1].astype(np.float32)
_FREQS = np.fft.rfftfreq(N_FFT, 1.0 / audio.SAMPLE_RATE)
_BAND = (_FREQS >= BAND_HZ[0]) & (_FREQS <= BAND_HZ[1])
_LAG_MIN = int(audio.SAMPLE_RATE // PITCH_HZ[1])
_LAG_MAX = int(audio.SAMPLE_RATE // PITCH_HZ[0])
# The window's own autocorrelation, to undo its taper from the frames' (Boersma's correction).
_WINDOW_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, N_FFT)) ** 2, N_FFT)[:_LAG_MAX + 2]
_WINDOW_AC /= _WINDOW_AC[0]
# Band power of full-scale white noise (RMS 1): levels are dB re full-scale RMS, a full-scale sine reads -3.
_LEVEL_REF = np.sum(_WINDOW ** 2) * N_FFT / 2


@dataclasses.dataclass(frozen=True)
class Decision:
    """The verdict on one clip: speech or not, seconds of voiced speech, its peak sample in dBFS."""
    speech: bool
    voiced_seconds: float
    peak_db: float


def frame_measures(y):
    """Per-frame measures of mono SAMPLE_RATE audio y (n_samples,).

    Returns (level_db, flatness, voicing), each (n_frames,) float: band level in dB re full-scale
    RMS, spectral flatness in the band, and the normalised autocorrelation pitch peak (-1 if none).
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    if len(y) < FRAME:
        y = np.pad(y, (0, FRAME - len(y)))
    n = 1 + (len(y) - FRAME) // HOP
    frames = np.lib.stride_tricks.as_strided(y, shape=(n, FRAME), strides=(y.strides[0] * HOP, y.strides[0]),
                                             writeable=False)
    level, flat, voicing = (np.empty(n) for _ in range(3))
    for s in range(0, n, BLOCK_FRAMES):
        f = frames[s:s + BLOCK_FRAMES]
        f = (f - f.mean(axis=1, keepdims=True)) * _WINDOW
        power = np.abs(np.fft.rfft(f, N_FFT, axis=1)) ** 2
        band = power * _BAND
        total = band.sum(axis=1)
        level[s:s + len(f)] = 10 * np.log10(total / _LEVEL_REF + 1e-12)
        inband = power[:, _BAND] + 1e-20
        flat[s:s + len(f)] = np.exp(np.log(inband).mean(axis=1)) / inband.mean(axis=1)
        ac = np.fft.irfft(band, N_FFT, axis=1)[:, :_LAG_MAX + 2]
        ac = ac / (ac[:, :1] + 1e-20) / _WINDOW_AC
        seg = ac[:, _LAG_MIN - 1:_LAG_MAX + 2]
        inner = seg[:, 1:-1]
        is_peak = (inner > seg[:, :-2]) & (inner >= seg[:, 2:])
        voicing[s:s + len(f)] = np.where(is_peak, inner, -1.0).max(axis=1)
    return level, flat, voicing


def speech_frames(y):
    """Boolean (n_frames,): which 10 ms frames of y are voiced speech (see the module docstring)."""
    level, flat, voicing = frame_measures(y)
    floor = np.percentile(level, FLOOR_PERCENTILE)
    loud = level > max(floor + SNR_DB, MIN_LEVEL_DB)
    return loud & (voicing >= MIN_VOICING) & (flat >= MIN_FLATNESS) & (flat <= MAX_FLATNESS)


def detect(y):
    """The Decision for mono SAMPLE_RATE audio y; empty or silent audio is no speech."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0 or not np.any(y):
        return Decision(False, 0.0, -120.0)
    voiced = speech_frames(y)
    seconds = voiced.sum() * HOP / audio.SAMPLE_RATE
    peak_db = float(20 * np.log10(np.max(np.abs(y)) + 1e-12))
    return Decision(bool(seconds >= MIN_VOICED_SECONDS), float(seconds), peak_db)


def is_speech(y):
    """True when mono SAMPLE_RATE audio y holds speech (see detect)."""
    return detect(y).speech
