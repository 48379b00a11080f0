"""The one audio front end: load any file, make it mono at one rate, and turn it into features.

Every script goes through here, so the features a model was trained on are the features it is
asked to predict from. The parameters below are saved beside every features file and every model
(see ``frontend_params``), and loading a model checks them.

    y = load_audio("examples/angry.wav")      # (n_samples,) float32, mono, SAMPLE_RATE
    check_clip(y, "examples/angry.wav")         # AudioError for silence or a clip too short
    S = log_mel(trim_silence(y))               # (n_frames, N_MELS) float32, dB
    C = mfcc(S)                                 # (n_frames, N_MFCC) float32
    P = prosody(y)                              # (N_PROSODY,) float32: pitch, loudness, voicing
    F = functionals(y)                          # (N_FUNCTIONALS,) float32: the clip's descriptors over time
"""

from pathlib import Path

import numpy as np

# Working sample rate in Hz. The corpora here are 16 kHz; anything else is resampled to it.
SAMPLE_RATE = 16000
# Resampler quality, passed to soxr ("HQ": high quality, linear phase).
RESAMPLE_QUALITY = "HQ"
# Analysis window: 25 ms Hann window, centred in a 512-sample (32 ms) FFT frame.
WIN_LENGTH = 400
N_FFT = 512
# Hop between frames: 10 ms, so 100 frames per second.
HOP_LENGTH = 160
# Mel filterbank: 64 triangular bands (Slaney scale and area normalisation) from FMIN to FMAX Hz.
N_MELS = 64
FMIN = 20.0
FMAX = 8000.0
# Cepstral coefficients kept from the DCT of the log-mel spectrum (the seed model's 40 MFCCs).
N_MFCC = 40
# Floor under the mel power before the logarithm, so digital silence stays finite (-100 dB).
POWER_FLOOR = 1e-10
# Silence trimming: frames more than TRIM_TOP_DB below the loudest frame at either end are cut.
TRIM_TOP_DB = 40.0
# The shortest clip we predict: anything shorter holds less than a syllable.
MIN_SECONDS = 0.25
# Prosody (``prosody``): how high the voice is and how its pitch moves, how loud it is and how its
# loudness moves, how much of the clip is voiced and in how many stretches.
# Pitch search range of YIN, in Hz: a low male voice to a high female shout.
PITCH_FMIN, PITCH_FMAX = 65.0, 800.0
# The pitch track runs at this rate: each pair of samples averaged, which also damps what would
# fold down from above its 4 kHz Nyquist frequency. The highest pitch searched is far below it.
PITCH_RATE = SAMPLE_RATE // 2
# Samples in each YIN frame at PITCH_RATE (64 ms): two periods of the lowest pitch searched, and then some.
PITCH_FRAME = 512
# Hop between YIN frames at PITCH_RATE: 20 ms.
PITCH_HOP = 160
# The YIN threshold: the first dip of the normalised difference below this is the period (else the
# deepest), as in de Cheveigné and Kawahara (2002) and librosa.yin's default.
YIN_THRESHOLD = 0.1
# A pitch frame is voiced when its waveform repeats at the found period at least this well
# (normalised correlation of half a frame with the same length one period later) ...
VOICING_CORRELATION = 0.6
# ... and it is within this many dB of the clip's loudest pitch frame.
VOICING_TOP_DB = 35.0
# Voicing decisions are smoothed by a running majority over this many pitch frames (odd), so that
# one frame's doubt does not split a vowel in two.
VOICING_SMOOTH = 3
# A pitch step larger than this many semitones between neighbouring pitch frames is taken
# for a tracking error (an octave jump), not movement, and left out of the movement statistics.
MAX_STEP = 3.0
# Loudness is each front-end frame's mean power (frame_power) in dB re the clip's loudest frame,
# floored this many dB below it (a floor for silence).
LOUDNESS_FLOOR_DB = 60.0
# Share of the clip at its end whose pitch is compared with the whole (a final rise or fall).
FINAL_SHARE = 0.2
# What ``prosody`` returns for each clip, in order.
PROSODY_NAMES = (
    "seconds", "voiced share", "voiced stretches per second", "mean voiced stretch (s)",
    "pitch median (semitones re 100 Hz)", "pitch 10th percentile", "pitch 90th percentile",
    "pitch spread (semitones)", "pitch range, 10th to 90th percentile",
    "pitch movement (mean |change|, semitones/s)", "pitch change spread (semitones/s)",
    "pitch slope (semitones/s)", "final pitch minus median",
    "loudness mean (dB re loudest)", "loudness spread", "loudness 10th percentile",
    "loudness median", "loudness 90th percentile", "loudness change spread (dB/s)",
    "loudness slope (dB/s)",
)
N_PROSODY = len(PROSODY_NAMES)
# Version of the feature code; bump it when features change in a way the constants do not show.
# 2: features files and models carry every clip's prosody.
# 3: the pitch track at PITCH_RATE every PITCH_HOP, loudness from frame_power.
FEATURE_VERSION = 3


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file, the problem, and what to do."""


def frontend_params():
    """The parameters that define the features, as saved beside features files and models."""
    return {"sample_rate": SAMPLE_RATE, "resample_quality": RESAMPLE_QUALITY,
            "win_length": WIN_LENGTH, "n_fft": N_FFT, "hop_length": HOP_LENGTH,
            "n_mels": N_MELS, "fmin": FMIN, "fmax": FMAX, "n_mfcc": N_MFCC,
            "power_floor": POWER_FLOOR, "trim_top_db": TRIM_TOP_DB,
            "prosody": {"names": list(PROSODY_NAMES), "pitch_fmin": PITCH_FMIN, "pitch_fmax": PITCH_FMAX,
                        "pitch_rate": PITCH_RATE, "pitch_frame": PITCH_FRAME, "pitch_hop": PITCH_HOP,
                        "yin_threshold": YIN_THRESHOLD, "voicing_correlation": VOICING_CORRELATION,
                        "voicing_top_db": VOICING_TOP_DB, "voicing_smooth": VOICING_SMOOTH,
                        "max_step": MAX_STEP, "loudness_floor_db": LOUDNESS_FLOOR_DB,
                        "final_share": FINAL_SHARE},
            "feature_version": FEATURE_VERSION}


def load_audio(path, sr=SAMPLE_RATE):
    """Read an audio file, mix it down to mono, resample it to ``sr``.

    Reads what libsndfile reads: WAV (8/16/24/32-bit integer, 32/64-bit float), FLAC, OGG, MP3,
    AIFF, at any rate and channel count. Returns a float32 array of shape (n_samples,) in [-1, 1].
    Raises AudioError naming the file when it is missing, empty or not readable audio.
    """
    import soundfile  # imported here so that importing this module stays cheap

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    if path.suffix.lower() in (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4a"):
        raise AudioError(f"{path}: a video or AAC file; take its audio out first with "
                         f"`python Mp4ToWav.py {path}`")
    try:
        data, file_sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).split(":")[-1].strip() or "unknown format"
        raise AudioError(f"{path}: not a readable audio file ({detail}); "
                         "use WAV, FLAC, OGG, MP3 or AIFF") from None
    return to_mono_resampled(data, file_sr, sr=sr, name=path)


def to_mono_resampled(data, file_sr, *, sr=SAMPLE_RATE, name="audio"):
    """Mix (n_samples,) or (n_samples, n_channels) audio to mono and resample it to ``sr``.

    Returns float32 of shape (n_samples_at_sr,). Raises AudioError for non-finite samples.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:  # one channel is taken as it is (the mean of one value is that value)
        y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    else:
        y = data
    if y.size and not np.all(np.isfinite(y)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    if file_sr != sr and y.size:
        import soxr
        y = soxr.resample(y, file_sr, sr, quality=RESAMPLE_QUALITY)
    return np.ascontiguousarray(y, dtype=np.float32)


def check_clip(y, name="audio", *, sr=SAMPLE_RATE):
    """Raise AudioError if ``y`` is too short or pure digital silence to predict an emotion from."""
    seconds = len(y) / sr
    if seconds < MIN_SECONDS:
        raise AudioError(f"{name}: too short ({seconds:.2f} s); an emotion needs at least "
                         f"{MIN_SECONDS} s of speech")
    if not np.any(y):
        raise AudioError(f"{name}: pure digital silence (every sample is 0); check the recording")


def _frames(y):
    """Split y into overlapping frames: (n_frames, N_FFT), at least one frame."""
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    n = 1 + (len(y) - N_FFT) // HOP_LENGTH
    return np.lib.stride_tricks.as_strided(
        y, shape=(n, N_FFT), strides=(y.strides[0] * HOP_LENGTH, y.strides[0]), writeable=False)


def frame_power(y):
    """Mean power of every frame of y as ``spectrum`` cuts them (no window): (n_frames,) float32."""
    return np.mean(np.square(_frames(np.ascontiguousarray(y, dtype=np.float32)), dtype=np.float32), axis=1)


def loud_span(power, top_db=TRIM_TOP_DB):
    """(first, last) index of the frames whose ``power`` (frame_power) is at most ``top_db`` below
    the loudest frame's; None when every frame is silent."""
    peak = power.max(initial=0.0)
    if peak <= 0:
        return None
    loud = np.flatnonzero(power >= peak * 10.0 ** (-top_db / 10.0))
    return int(loud[0]), int(loud[-1])


def loud_frames(y, top_db=TRIM_TOP_DB):
    """(first, last) index of the frames of y (as ``spectrum`` cuts them) at most ``top_db`` below
    the loudest frame; None when y holds no sound at all."""
    return loud_span(frame_power(y), top_db)


def trim_silence(y, top_db=TRIM_TOP_DB, *, power=None):
    """Cut leading and trailing frames quieter than ``top_db`` below the loudest frame.

    Returns a view of y (n_samples,) covering the first to the last loud frame; y as it is when
    it holds no sound at all. power: frame_power(y), when the caller already has it.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    loud = loud_span(frame_power(y) if power is None else power, top_db)
    if loud is None:
        return y
    return y[loud[0] * HOP_LENGTH: loud[1] * HOP_LENGTH + N_FFT]


def _hz_to_mel(f):
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_centres_hz():
    """Centre frequency of every mel band, (N_MELS,) float64 in Hz, ascending."""
    return _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))[1:-1]


def mel_filterbank():
    """Triangular Slaney-normalised mel filters, shape (N_FFT // 2 + 1, N_MELS), float32."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    lower = (fft_hz[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    upper = (edges[None, 2:] - fft_hz[:, None]) / (edges[2:] - edges[1:-1])
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= 2.0 / (edges[2:] - edges[:-2])
    return weights.astype(np.float32)


def dct_matrix():
    """Orthonormal DCT-II basis, shape (N_MELS, N_MFCC), as scipy.fft.dct(norm='ortho') uses."""
    n = np.arange(N_MELS)
    basis = np.cos(np.pi / N_MELS * (n[:, None] + 0.5) * np.arange(N_MFCC)[None, :])
    basis *= np.sqrt(2.0 / N_MELS)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


# Periodic Hann window of WIN_LENGTH samples, centred in an N_FFT frame (as librosa pads it).
_WINDOW = np.zeros(N_FFT, dtype=np.float32)
_WINDOW[(N_FFT - WIN_LENGTH) // 2:(N_FFT - WIN_LENGTH) // 2 + WIN_LENGTH] = np.hanning(WIN_LENGTH + 1)[:-1]
_MEL = mel_filterbank()
_DCT = dct_matrix()


def _mel_bands(mel, n_groups):
    """The filterbank ``mel`` as runs of FFT bins, for ``mel_power``: a list of ``n_groups``
    (first, last, bins, weights), one per run of consecutive bands first..last-1, with bins
    (last - first, width) intp, each band's run of bins from its first on, and weights
    (last - first, width) float32, 0 past the run's end; width is the group's widest run. Low
    bands span 2-3 bins and high ones 23, so padding each of 4 groups to its own width, not all 64
    to 23, does less than half the multiply-adds (672 per frame against 1472)."""
    runs = [np.nonzero(mel[:, k])[0] for k in range(mel.shape[1])]
    edges = np.linspace(0, len(runs), n_groups + 1).astype(int)
    groups = []
    for first, last in zip(edges[:-1], edges[1:]):
        group = runs[first:last]
        width = max(run[-1] - run[0] + 1 for run in group)
        bins = np.minimum(np.array([run[0] for run in group])[:, None] + np.arange(width), mel.shape[0] - 1)
        weights = np.zeros((len(group), width), dtype=np.float32)
        for k, run in enumerate(group):
            weights[k, run - run[0]] = mel[run, first + k]
        groups.append((first, last, bins, weights))
    return groups


# Groups of consecutive bands that mel_power pads to a common width each.
_MEL_GROUPS = _mel_bands(_MEL, n_groups=4)
# Frames per step of mel_power (bounds its scratch memory to about 2 MB).
_MEL_CHUNK = 1024


def mel_power(power):
    """Mel power of a power spectrum: (n_frames, N_FFT // 2 + 1) -> (n_frames, N_MELS) float32,
    what ``power @ mel_filterbank()`` gives, to float32 rounding.

    Not a BLAS matrix product: BLAS rounds its sums differently with the number of threads it uses
    (OpenBLAS on AMD EPYC: 1 thread in create_features.py's worker processes and 2 in a
    predicting process differed in the last bit). numpy's einsum, without ``optimize``, sums in
    one fixed order, so a clip's features are the same bits in training and in prediction.
    """
    spectra = np.ascontiguousarray(np.asarray(power, dtype=np.float32).T)          # (bins, n_frames)
    mel = np.empty((spectra.shape[1], N_MELS), dtype=np.float32)
    for start in range(0, spectra.shape[1], _MEL_CHUNK):
        chunk = spectra[:, start:start + _MEL_CHUNK]
        for first, last, bins, weights in _MEL_GROUPS:
            block = chunk[bins]                                                     # (bands, width, n)
            mel[start:start + _MEL_CHUNK, first:last] = np.einsum("kjn,kj->nk", block, weights,
                                                                  optimize=False)
    return mel


def white_noise_mel(power):
    """The mel power that white noise of mean power ``power`` per sample puts, on average, in each
    band of one frame (what ``mel_to_db`` takes the log of): (N_MELS,) float64. Every FFT bin of a
    windowed frame of such noise has expected power ``power`` times the window's energy."""
    return float(power) * float(np.sum(np.square(_WINDOW, dtype=np.float64))) * _MEL.sum(axis=0, dtype=np.float64)


def spectrum(y):
    """Short-time Fourier transform of mono SAMPLE_RATE audio, Hann-windowed frames.

    y: (n_samples,) float. Returns (n_frames, N_FFT // 2 + 1) complex64 with
    n_frames = 1 + (max(n_samples, N_FFT) - N_FFT) // HOP_LENGTH (librosa's center=False).
    """
    frames = _frames(np.ascontiguousarray(y, dtype=np.float32)) * _WINDOW
    return np.fft.rfft(frames, axis=1)


def mel_spectrogram(y):
    """Mel power of mono SAMPLE_RATE audio: mel_power of ``spectrum(y)``'s power, (n_samples,) ->
    (n_frames, N_MELS) float32, n_frames as in ``spectrum``."""
    spec = spectrum(y)
    return mel_power(spec.real ** 2 + spec.imag ** 2)


def mel_to_db(mel):
    """Mel power in dB, floored at POWER_FLOOR: (n_frames, N_MELS) -> the same shape and dtype."""
    return 10.0 * np.log10(np.maximum(mel, POWER_FLOOR))


def log_mel(y):
    """Log-mel spectrogram in dB of mono SAMPLE_RATE audio: mel_to_db(mel_spectrogram(y)).

    y: (n_samples,) float. Returns (n_frames, N_MELS) float32, n_frames as in ``spectrum``.
    """
    return mel_to_db(mel_spectrogram(y))


def mfcc(log_mel_db):
    """MFCCs from a log-mel spectrogram: (n_frames, N_MELS) dB -> (n_frames, N_MFCC) float32."""
    return np.asarray(log_mel_db, dtype=np.float32) @ _DCT


def clip_mel(y, *, power=None):
    """The mel power of a clip after silence trimming, which ``features`` and ``functionals`` both
    start from: y (n_samples,) mono SAMPLE_RATE audio -> (n_frames, N_MELS) float32. Take it once
    and give it to both as ``mel=`` (the spectrum is among a clip's costliest steps).
    power: frame_power(y), when the caller already has it."""
    return mel_spectrogram(trim_silence(y, power=power))


def features(y, *, power=None, mel=None):
    """The stored features of one clip: its log-mel spectrogram after silence trimming.

    y: (n_samples,) mono SAMPLE_RATE audio; power: frame_power(y), and mel: clip_mel(y), when the
    caller already has them. Returns (n_frames, N_MELS) float32, the same with or without them;
    every model derives its input from this (see model.py).
    """
    return mel_to_db(clip_mel(y, power=power) if mel is None else mel)


def _slope(t, v):
    """Least-squares slope of v over t (both (n,)); 0 with fewer than two points or one time."""
    if len(t) < 2 or np.ptp(t) == 0:
        return 0.0
    t = t - t.mean()
    return float(np.sum(t * (v - v.mean())) / np.sum(t * t))


def yin(frames):
    """The fundamental frequency in Hz of every frame by YIN, as librosa.yin(center=False) computes
    it with this module's PITCH_FMIN, PITCH_FMAX and PITCH_RATE, to the bit, with NumPy and
    scipy.fft alone (librosa's import, which brings in SciPy's signal and stats modules and Numba,
    takes over a second; scipy.fft, whose rounding librosa's autocorrelation has, a fraction of
    that). frames: (n, PITCH_FRAME) float32 at PITCH_RATE. Returns (n,) float64.

    Each frame's difference function d(k) comes from its autocorrelation (an FFT), is normalised by
    its running mean over k, and the period is the first local minimum below YIN_THRESHOLD (else
    the deepest), refined by a parabola through it and its neighbours.
    """
    import scipy.fft  # imported here so that importing this module stays cheap

    frames = np.asarray(frames, dtype=np.float32)
    min_period = int(np.floor(PITCH_RATE / PITCH_FMAX))
    max_period = min(int(np.ceil(PITCH_RATE / PITCH_FMIN)), PITCH_FRAME - 1)
    n_fft = 2 * PITCH_FRAME  # the length librosa pads to (scipy.fft.next_fast_len(2 * PITCH_FRAME - 1))
    # Along the first axis of (PITCH_FRAME, n), as librosa does: scipy.fft rounds differently when it
    # transforms many frames side by side than one row after another.
    spec = scipy.fft.rfft(frames.T, n=n_fft, axis=0)
    acf = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=n_fft, axis=0)[:max_period + 1].T
    # d(k) = 2 (r(0) - r(k)) - (energy of the frame's first k samples), where librosa zeroes the
    # first of those sums before it is used (d(1) = 2 (r(0) - r(1))); kept, to match it.
    energy = np.cumsum(np.square(frames[:, :max_period]), axis=1)        # (n, max_period)
    energy[:, 0] = 0
    diff = np.zeros((len(frames), max_period + 1), dtype=energy.dtype)
    diff[:, 1:] = 2 * (acf[:, 0:1] - acf[:, 1:]) - energy
    mean = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_period + 1)   # float64
    d = diff[:, min_period:max_period + 1] / (mean[:, min_period - 1:max_period] + np.finfo(mean.dtype).tiny)
    trough = np.zeros(d.shape, dtype=bool)
    trough[:, 1:-1] = (d[:, 1:-1] < d[:, :-2]) & (d[:, 1:-1] <= d[:, 2:])
    trough[:, 0] = d[:, 0] < d[:, 1]
    trough[:, -1] = d[:, -1] < d[:, -2]
    below = trough & (d < YIN_THRESHOLD)
    lag = np.where(below.any(axis=1), np.argmax(below, axis=1), np.argmin(d, axis=1))
    # Parabolic refinement at the chosen lag (none where the vertex is more than a lag away, and at
    # the ends), computed as librosa computes it for every lag.
    rows, inner = np.arange(len(d)), np.clip(lag, 1, d.shape[1] - 2)
    a = d[rows, inner + 1] + d[rows, inner - 1] - 2 * d[rows, inner]
    b = (d[rows, inner + 1] - d[rows, inner - 1]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where((lag == inner) & (np.abs(b) < np.abs(a)), -b / a, 0.0)
    return PITCH_RATE / (min_period + lag + shift)


def pitch_frames(y):
    """The frames the pitch track reads: y (n_samples,) at SAMPLE_RATE, each pair of samples
    averaged to PITCH_RATE, cut into (n, PITCH_FRAME) float32 frames every PITCH_HOP (at least one,
    zero-padded). A view of a new array."""
    y = np.asarray(y, dtype=np.float32)
    n = len(y) // 2
    z = (y[0:2 * n:2] + y[1:2 * n:2]) * np.float32(0.5)
    if len(z) < PITCH_FRAME:
        z = np.pad(z, (0, PITCH_FRAME - len(z)))
    return np.lib.stride_tricks.sliding_window_view(z, PITCH_FRAME)[::PITCH_HOP]


def pitch_track(y):
    """The pitch track of a clip (already trimmed): y (n_samples,) mono SAMPLE_RATE audio ->
    (f0, corr, voiced), each (n,) over its ``pitch_frames``.

    f0 (float64, Hz) comes from YIN (``yin``); corr (float32) is the correlation of each frame's
    first half with the stretch one found period later; a frame counts as voiced (bool) when corr
    is at least VOICING_CORRELATION and it is within VOICING_TOP_DB of the loudest pitch frame, by a
    majority of the VOICING_SMOOTH frames around it.
    """
    frames = pitch_frames(y)
    n = len(frames)
    f0 = yin(frames)
    half = PITCH_FRAME // 2
    period = np.clip(np.round(PITCH_RATE / f0).astype(int), 1, PITCH_FRAME - half)
    a = frames[:, :half]
    b = frames[np.arange(n)[:, None], period[:, None] + np.arange(half)]
    corr = np.sum(a * b, axis=1) / np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1) + 1e-12)
    frame_level = np.mean(np.square(frames), axis=1)
    voiced = (corr >= VOICING_CORRELATION) & (
        frame_level >= max(float(frame_level.max()), 1e-12) * 10.0 ** (-VOICING_TOP_DB / 10.0))
    votes = np.convolve(np.pad(voiced.astype(float), VOICING_SMOOTH // 2, mode="edge"),
                        np.ones(VOICING_SMOOTH), mode="valid")
    return f0, corr, votes > VOICING_SMOOTH / 2


def prosody(y, *, power=None, track=None):
    """The prosody of one clip: y (n_samples,) mono SAMPLE_RATE audio -> (N_PROSODY,) float32, in the
    order of PROSODY_NAMES. power: frame_power(y), when the caller already has it; track:
    pitch_track of the trimmed clip, when the caller already has it (``functionals``).

    The clip is trimmed as ``features`` trims it. Its pitch is ``pitch_track``'s, in semitones re
    100 Hz, over the frames it calls voiced; pitch values are 0 when fewer than three frames are
    voiced. Loudness is each front-end frame's power (frame_power) in dB re the loudest, floored
    LOUDNESS_FLOOR_DB below it.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    power = frame_power(y) if power is None else power
    loud = loud_span(power)
    level = power if loud is None else power[loud[0]:loud[1] + 1]  # the trimmed clip's frames
    y = trim_silence(y, power=power)
    loudness = 10.0 * np.log10(np.maximum(level / max(float(level.max()), 1e-12),
                                          10.0 ** (-LOUDNESS_FLOOR_DB / 10.0)))

    f0, _, voiced = pitch_track(y) if track is None else track
    n, sr, hop = len(f0), PITCH_RATE, PITCH_HOP

    seconds = len(y) / SAMPLE_RATE
    t = np.arange(n) * hop / sr
    starts = np.flatnonzero(voiced & ~np.concatenate([[False], voiced[:-1]]))
    stretches = len(starts)
    voicing = [seconds, voiced.mean(), stretches / seconds, voiced.sum() * hop / sr / max(stretches, 1)]

    pitch = [0.0] * 9
    if voiced.sum() >= 3:
        st = 12.0 * np.log2(f0 / 100.0)
        sv = st[voiced]
        p10, p50, p90 = np.percentile(sv, (10, 50, 90))
        steps = np.flatnonzero(voiced[1:] & voiced[:-1])  # frame pairs voiced on both sides
        step = st[steps + 1] - st[steps]
        step = step[np.abs(step) <= MAX_STEP]
        change = step * sr / hop if len(step) else np.zeros(1)
        final = voiced & (t >= t[-1] * (1.0 - FINAL_SHARE))
        pitch = [p50, p10, p90, sv.std(), p90 - p10, np.abs(change).mean(), change.std(),
                 _slope(t[voiced], sv), (st[final].mean() - p50) if final.any() else 0.0]

    rate = SAMPLE_RATE / HOP_LENGTH  # loudness frames per second
    d_loud = np.diff(loudness) * rate if len(loudness) > 1 else np.zeros(1)
    level_stats = [loudness.mean(), loudness.std(), *np.percentile(loudness, (10, 50, 90)), d_loud.std(),
                   _slope(np.arange(len(loudness)) / rate, loudness)]
    return np.asarray(voicing + pitch + level_stats, dtype=np.float32)


# ----------------------------------------------------------------------------- functionals
# The functionals (``functionals``): what a whole clip's frame-level descriptors do over its
# length, for the blend's third voice (model.py). They are not in frontend_params: a features
# file and a model record ``functionals_params`` and are checked against it.
# The MFCCs described (1 to 14; 0 is the clip's level).
FUNCTIONALS_MFCC = slice(1, 15)
# Frames either side of a frame in its delta (the regression over 2 * DELTA_SPAN + 1 frames).
DELTA_SPAN = 2
# The RASTA filter over each log-mel band's frames (Hermansky and Morgan's band-pass on the
# modulation spectrum): a five-tap slope (numerator, summing to 0, so a constant level, a microphone's
# gain or colour, gives 0) and the pole of its leaky integrator.
RASTA_NUMERATOR = (0.2, 0.1, 0.0, -0.1, -0.2)
RASTA_POLE = 0.98
# The split between low and high bands in the alpha ratio (0-1 kHz against 1-5 kHz).
ALPHA_SPLIT_HZ, ALPHA_TOP_HZ = 1000.0, 5000.0
# Correlations at the period are clipped to this range before harmonics to noise is taken.
HNR_CLIP = (0.01, 0.999)
# What is taken of each descriptor over a clip's frames: moments, percentiles, their range, the
# slope over time (per second) and the mean change from one frame to the next.
PERCENTILES = (10, 25, 50, 75, 90)
FUNCTIONALS = ("mean", "std", "skewness", "kurtosis", *(f"p{q}" for q in PERCENTILES), "p90-p10",
               "slope", "mean_abs_change")
# The descriptors ``descriptors`` returns: per front-end frame (14 MFCCs, their deltas, the RASTA
# bands, the bands less the clip's level, 7 spectral), per voiced pitch frame, per pitch frame.
N_FRAME_DESCRIPTORS = 2 * 14 + 2 * N_MELS + 7
N_VOICED_DESCRIPTORS = 4
N_FUNCTIONALS = len(FUNCTIONALS) * (N_FRAME_DESCRIPTORS + N_VOICED_DESCRIPTORS + 1) + N_PROSODY
# Version of the functionals' code; bump it when they change in a way the constants do not show.
FUNCTIONALS_VERSION = 2


def functionals_params():
    """The parameters that define ``functionals``, as saved beside features files and models."""
    return {"mfcc": [FUNCTIONALS_MFCC.start, FUNCTIONALS_MFCC.stop], "delta_span": DELTA_SPAN,
            "rasta_numerator": list(RASTA_NUMERATOR), "rasta_pole": RASTA_POLE,
            "alpha_hz": [ALPHA_SPLIT_HZ, ALPHA_TOP_HZ], "hnr_clip": list(HNR_CLIP),
            "percentiles": list(PERCENTILES), "functionals": list(FUNCTIONALS),
            "n_functionals": N_FUNCTIONALS, "version": FUNCTIONALS_VERSION}


def delta(x):
    """(T, d) -> (T, d): each frame's regression slope over DELTA_SPAN frames either side (the
    first and last frames repeated at the edges)."""
    pad = np.pad(x, ((DELTA_SPAN, DELTA_SPAN), (0, 0)), mode="edge")
    n = len(x)
    k = np.arange(1, DELTA_SPAN + 1)
    return sum(j * (pad[DELTA_SPAN + j:DELTA_SPAN + j + n] - pad[DELTA_SPAN - j:DELTA_SPAN - j + n])
               for j in k) / (2.0 * np.sum(k * k))


def rasta(x):
    """(T, d) -> (T, d): the RASTA filter along time of each column (the first frame repeated
    before the clip, so a constant column gives 0)."""
    numerator = np.asarray(RASTA_NUMERATOR)
    taps = len(numerator)
    pad = np.pad(x, ((taps - 1, 0), (0, 0)), mode="edge")
    fir = sum(numerator[i] * pad[taps - 1 - i:taps - 1 - i + len(x)] for i in range(taps))
    out = np.empty_like(fir)
    state = np.zeros(x.shape[1])
    for t in range(len(x)):
        state = RASTA_POLE * state + fir[t]
        out[t] = state
    return out


def functionals_of(x, *, rate):
    """(T, d) descriptors -> (len(FUNCTIONALS) * d,) float64, functional by functional; ``rate``:
    frames per second (for the slope). Zeros when T < 2."""
    n, d = x.shape
    if n < 2:
        return np.zeros(len(FUNCTIONALS) * d)
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / np.where(std > 1e-6, std, np.inf)
    z2 = z * z  # products, not z ** 3 and z ** 4: NumPy's general power is a hundred times slower
    # Percentiles as np.percentile's linear method takes them, from one sort of each column
    # (several times faster than np.percentile's partitions for five of them).
    ordered = np.sort(x, axis=0)
    at = np.asarray(PERCENTILES) / 100.0 * (n - 1)
    below = np.floor(at).astype(int)
    above = np.minimum(below + 1, n - 1)
    p = ordered[below] + (ordered[above] - ordered[below]) * (at - below)[:, None]
    t = np.arange(n) / rate
    t = t - t.mean()
    slope = t @ (x - mean) / np.sum(t * t)
    change = np.abs(np.diff(x, axis=0)).mean(axis=0)
    return np.concatenate([mean, std, (z2 * z).mean(axis=0), (z2 * z2).mean(axis=0) - 3.0 * (std > 1e-6),
                           *p, p[-1] - p[0], slope, change])


def descriptors(y, *, track=None, mel=None):
    """The frame-level descriptors of a trimmed clip y (n_samples,): (frame (T,
    N_FRAME_DESCRIPTORS), voiced (V, N_VOICED_DESCRIPTORS), pitch frames (P, 1)) float64.
    track: pitch_track(y), and mel: mel_spectrogram(y) (what clip_mel gives for the untrimmed clip),
    when the caller already has them.

    frame, every HOP_LENGTH: MFCC 1-14 and their deltas, the RASTA-filtered log-mel bands, the
    log-mel bands less the clip's mean level, and seven spectral descriptors (level in dB re the
    clip's loudest frame; centroid and spread over the mel bands, in bands; flatness in dB; flux,
    the mean change of the bands in dB; the bands' slope in dB per band; the alpha ratio in dB).
    voiced, over pitch_track's voiced frames: pitch in semitones re 100 Hz, jitter (the relative
    change of the period from the voiced frame before), shimmer (the change of the frame's level in
    dB from the voiced frame before) and harmonics to noise in dB (from the correlation at the
    period); the first voiced frame's changes are 0, and V is 0 with fewer than three voiced frames.
    pitch frames: the correlation at the period of every pitch frame.
    """
    mel = (mel_spectrogram(y) if mel is None else mel).astype(np.float64)
    bands = mel_to_db(mel)
    cepstra = mfcc(bands).astype(np.float64)[:, FUNCTIONALS_MFCC]
    total = mel.sum(axis=1) + POWER_FLOOR
    level = 10.0 * np.log10(total / total.max())
    index = np.arange(N_MELS)
    share = mel / total[:, None]
    centroid = share @ index
    spread = np.sqrt(np.maximum(share @ index ** 2 - centroid ** 2, 0.0))
    flatness = bands.mean(axis=1) - 10.0 * np.log10(mel.mean(axis=1) + POWER_FLOOR)
    flux = np.concatenate([[0.0], np.abs(np.diff(bands, axis=0)).mean(axis=1)])
    centred = index - index.mean()
    tilt = (bands - bands.mean(axis=1, keepdims=True)) @ centred / np.sum(centred ** 2)
    hz = mel_centres_hz()
    low, high = hz < ALPHA_SPLIT_HZ, (hz >= ALPHA_SPLIT_HZ) & (hz < ALPHA_TOP_HZ)
    alpha = 10.0 * np.log10((mel[:, low].sum(axis=1) + POWER_FLOOR) /
                            (mel[:, high].sum(axis=1) + POWER_FLOOR))
    spectral = np.stack([level, centroid, spread, flatness, flux, tilt, alpha], axis=1)
    frame = np.concatenate([cepstra, delta(cepstra), rasta(bands), bands - bands.mean(), spectral], axis=1)

    f0, corr, voiced = pitch_track(y) if track is None else track
    voiced_rows = np.zeros((0, N_VOICED_DESCRIPTORS))
    if voiced.sum() >= 3:
        frames = pitch_frames(y)
        frame_db = 10.0 * np.log10(np.mean(np.square(frames[voiced], dtype=np.float64), axis=1) + 1e-12)
        period = 1.0 / f0[voiced]
        jitter = np.concatenate([[0.0], np.abs(np.diff(period)) / period[1:]])
        shimmer = np.concatenate([[0.0], np.abs(np.diff(frame_db))])
        c = np.clip(corr[voiced].astype(np.float64), *HNR_CLIP)
        voiced_rows = np.stack([12.0 * np.log2(f0[voiced] / 100.0), jitter, shimmer,
                                10.0 * np.log10(c / (1.0 - c))], axis=1)
    return frame, voiced_rows, corr.astype(np.float64)[:, None]


def functionals(y, *, power=None, mel=None):
    """The functionals of one clip: y (n_samples,) mono SAMPLE_RATE audio -> (N_FUNCTIONALS,)
    float32: FUNCTIONALS of the frame descriptors, of the voiced-frame ones and of the pitch frames'
    correlation (``descriptors``; zeros for the voiced ones when fewer than three frames are
    voiced), then ``prosody``'s N_PROSODY numbers, the pitch track taken once for both. The clip is
    trimmed as ``features`` trims it; power: frame_power(y), and mel: clip_mel(y), when the caller
    already has them (the same numbers either way).
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    power = frame_power(y) if power is None else power
    trimmed = trim_silence(y, power=power)
    track = pitch_track(trimmed)
    frame, voiced, corr = descriptors(trimmed, track=track, mel=mel)
    pitch_rate = PITCH_RATE / PITCH_HOP
    parts = [functionals_of(frame, rate=SAMPLE_RATE / HOP_LENGTH),
             (functionals_of(voiced, rate=pitch_rate) if len(voiced)
              else np.zeros(N_VOICED_DESCRIPTORS * len(FUNCTIONALS))),
             functionals_of(corr, rate=pitch_rate), prosody(y, power=power, track=track)]
    return np.nan_to_num(np.concatenate(parts)).astype(np.float32)


def file_features(path):
    """load_audio + check_clip + features for one file: (n_frames, N_MELS) float32."""
    y = load_audio(path)
    check_clip(y, path)
    return features(y)
