"""The one model module: model inputs, Keras architectures, saving, loading and prediction.

Two architectures, both Keras Conv1D models trained by neural_network.py:

- ``seed``: the original project's model, kept as the baseline. Input: the mean over time of 40
  MFCCs, (40, 1). Conv1D(64, 5) -> ReLU -> Dropout -> Dense(8) softmax, RMSprop.
- ``cnn``: ours. Input: frames of log-mel features, normalised per utterance (NORMALISATION),
  optionally after a floor DYNAMIC_RANGE_DB below the clip's loudest (off), (N_FRAMES, N_MELS);
  both settings are saved with the model and used by Predictor. A model may also predict each
  clip as the average over several views of it: the clip, a copy with white noise added
  (TEST_TIME_NOISE_DB), and those two with their frequency axis warped (TEST_TIME_WARPS); both
  are chosen on held-out speakers by neural_network.py and saved with the model.

A ``cnn`` model may also blend in a partner of its own, trained by neural_network.py on the same
files (the "MFCC blend"): the clip's probabilities are then p_cnn ** (1 - w) * p_partner ** w,
renormalised (``blend``), with the weight w chosen on held-out speakers. The partner
(``PARTNER``) is the seed's layers and recipe on the mean of the clip's MFCCs and its prosody
(audio.prosody: pitch, loudness and voicing), views of the voice our windows of frames do not
have; its prosody inputs are scaled by its training files' statistics, saved in its metadata.
(A ``seed`` model, the MFCC means alone, blends in as well.) It is saved as a model folder of its
own, ``BLEND_FOLDER`` inside the main one, and the main metadata records its weight and the sha256
of its .keras file.

A saved model is two files in one folder: ``emotion_model.keras`` (Keras 3 native format) and
``emotion_model.json`` (label order, front-end parameters, architecture, input settings,
calibration temperature (applied to the final probabilities, after the blend), and the sha256 of
the .keras file). ``load`` refuses a model whose front-end parameters differ from audio.py's or
whose two files do not belong together. ``save`` writes a whole new folder beside the old one and
swaps it in (``replace_folder``), so a save that fails part way leaves the old model, and the
model it blends in, as they were.

``save`` also writes ``emotion_model.npz``, a NumPy copy of the Keras model for fast inference
(see numpy_model.py), and records its sha256 and the .keras sha256 it was made from; ``load``
predicts with that copy when it is there and fresh, without importing Keras, and refuses a stale
one. The .keras file stays the source of truth (``load(folder, backend="keras")``).

    predictor = load("model")
    probs = predictor.predict_file("examples/angry.wav")   # {"angry": 0.91, ...}, all 8 emotions
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import audio
import embedding
import numpy_model
from corpus import EMOTIONS

# Quiet TensorFlow's start-up logging, and train with its oneDNN CPU kernels: here they took half
# the time of its plain ones and were as repeatable (experiments/README.md,
# tests/test_repeatable_training.py), and the published numbers were measured with them. The two
# round differently, so a model trained with TF_ENABLE_ONEDNN_OPTS=0 set before running will differ
# a little. Set before Keras is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# File names inside a model folder.
MODEL_FILE = "emotion_model.keras"
META_FILE = "emotion_model.json"
# Format of the metadata; bump it when its meaning changes.
META_VERSION = 1
# The model folder, inside a ``cnn`` model's folder, of the partner it blends in (named when the
# partner read MFCCs alone).
BLEND_FOLDER = "mfcc"
# The file, inside a ``cnn`` model's folder, of the third voice it blends in last: a logistic
# regression on each clip's functionals (audio.functionals), as its scaling and weights.
THIRD_VOICE_FILE = "functionals.npz"
# The arrays of THIRD_VOICE_FILE: the functionals' mean and scale over the training clips, and the
# logistic regression's (n_emotions, N_FUNCTIONALS) weights and (n_emotions,) intercepts.
THIRD_VOICE_ARRAYS = ("mean", "scale", "coef", "intercept")
# The file, inside a ``cnn`` model's folder, of the fourth voice it blends in after the third: a
# logistic regression on each clip's speech embedding (embedding.py), its arrays THIRD_VOICE_ARRAYS.
FOURTH_VOICE_FILE = "speech_embedding.npz"
# Each voice blended in last, by its metadata key: (its file, what it reads, how many numbers a
# clip, the settings those numbers are made with (checked at load)).
LAST_VOICES = {"third_voice": (THIRD_VOICE_FILE, "functionals", audio.N_FUNCTIONALS, audio.functionals_params),
               "fourth_voice": (FOURTH_VOICE_FILE, "speech embeddings", embedding.N_EMBEDDING, embedding.params)}
# Everything a model folder may hold; ``save`` refuses to replace a folder that holds anything else.
MODEL_ENTRIES = (MODEL_FILE, META_FILE, numpy_model.EXPORT_FILE, BLEND_FOLDER, THIRD_VOICE_FILE, FOURTH_VOICE_FILE)

# Frames in one input window of the ``cnn`` model: 300 frames of 10 ms = 3 s.
N_FRAMES = 300
# Longer clips are predicted window by window with this hop (frames) and the probabilities averaged.
WINDOW_HOP = 150

ARCHITECTURES = ("seed", "cnn")
# Our model is one tower or an ensemble of towers that share one input window; they train together,
# each on its own loss (see neural_network.TOWER_BALANCE), and the model predicts the average of
# their probabilities. The towers ``build`` knows: name -> (what its Conv1D runs over, frames
# averaged into one, Conv1D blocks as (filters, kernel width)), where the Conv1D runs
# "time": over time, mel bands as channels, after averaging 10 ms frames (4: 40 ms frames);
# "bands": over the mel axis of the window's statistics per band (mean, variance and maximum over
#          time as 3 channels): the long-term spectrum and how much each band moves, not the timing;
# "freq": over time as "time" does, after each frame's spectrum went through FREQ_BLOCKS;
# "freq_pooled": the same, each FREQ_BLOCKS layer pooled before its ReLU and not normalised.
# "t40w" is "t40" with twice the filters in every block (3.5 times the weights). "t40c" is "t40"
# with the loss weighted by emotion only, not by corpus within an emotion
# (neural_network.TOWER_BALANCE): a second member for an ensemble with "t40". Alone it scored 0.597
# under (b), as "t40" did; "t40" with another seed scored 0.645 (experiments/README.md). "t40b" is
# "t40" again: beside "t40" in one model it trains from its own initial weights (a seed ensemble).
TOWERS = {
    "t40": ("time", 4, ((64, 5), (96, 5), (128, 3))),
    "t40c": ("time", 4, ((64, 5), (96, 5), (128, 3))),
    "t40b": ("time", 4, ((64, 5), (96, 5), (128, 3))),
    "t40w": ("time", 4, ((128, 5), (192, 5), (256, 3))),
    "t20": ("time", 2, ((96, 5), (128, 5), (192, 3))),
    "bands": ("bands", 1, ((32, 5), (64, 5))),
    "f40": ("freq", 4, ((64, 5), (96, 5), (128, 3))),
    "f40c": ("freq_pooled", 4, ((64, 5), (96, 5), (128, 3))),
    "f40cb": ("freq_pooled", 4, ((64, 5), (96, 5), (128, 3))),
}
# Tower "f40" ("freq"): before its Conv1D blocks over time, each 40 ms frame's spectrum goes through
# Conv1D layers over the mel axis, the same weights at every frame and every band, each followed by
# max pooling over bands: a pattern counts wherever in the spectrum it sits, give or take the
# pooling, as a formant moves with the length of a voice's vocal tract. Alone, on all 8 folds of
# (b): 0.613 and 0.612 (seeds 42, 43) against 0.546 and 0.588 for "t40" alone, and 0.612 for the
# shipped pair; lower with 10 dB of noise added (0.555 and 0.514 against 0.594 and 0.631); a
# training step costs 2.2 times the shipped pair's (benchmarks/train_step.py;
# experiments/README.md).
# Tower "f40c" ("freq_pooled") is "f40" made cheaper: each mel-axis layer is max-pooled before its
# ReLU (the same result: both keep the largest value) and has a bias instead of batch normalisation
# over every frame and band. On all 8 folds of (b): 0.580 and 0.601 (seeds 42, 43), below "f40",
# above "t40"; both seeds averaged 0.610, the shipped pair's 0.612 (experiments/README.md). "f40cb"
# is "f40c" again, for a two-seed pair in one model as "t40b" is for "t40".
# (filters, kernel width in bands, bands max-pooled into one) per layer.
FREQ_BLOCKS = ((8, 5, 4),)
# The towers of our model (neural_network.py --towers for experiments). The shipped model is "t40"
# and "t40b", a two-seed ensemble in one model: two runs of "t40" from different seeds scored 0.597
# and 0.645 under (b), and the mean of their probabilities 0.643. Its own full run scored 0.611
# (RAVDESS 0.601 against 0.561 for "t40" alone, better on all 6 actor folds), and 0.637 and 0.577
# measured again with oneDNN on, on two machines (experiments/README.md). Two towers train in 5.1 to
# 5.4 min on all files (10.8 with oneDNN off) and predict a clip in 2.15 ms warm with the 20 dB
# test-time copy (README, Speed). Earlier, adding "bands" won about 11 points on each unseen TESS
# speaker but lost on unseen RAVDESS actors in 3 of the 4 folds measured (experiments/README.md);
# "t20" made training steps several times slower; "t40w" scored 0.553 under (b) against 0.549
# (RAVDESS +1.8 points, TESS -0.2; experiments/README.md) and trains twice as slowly.
CNN_TOWERS = ("t40", "t40b")
# How one clip's log-mel matrix is normalised before the model sees it:
# "utterance": one mean and one standard deviation over the whole clip (removes gain and level,
# keeps the spectral shape: tilt and formant balance carry arousal);
# "band": each mel band to zero mean and unit variance (also removes the spectral shape).
NORMALISATION = "utterance"
NORMALISATIONS = ("utterance", "band")
# Dynamic range kept in one clip's log-mel matrix before it is normalised: every value more than
# this many dB below the clip's loudest is raised to that floor (None: keep everything). Clean
# studio clips have deep valleys (many time-frequency values more than 60 dB below the loudest)
# that a real microphone's noise fills, as it fills those of our noisy training copies; the
# valleys also weigh heavily in the utterance's standard deviation.
# Protocol (b) with 20 dB of white noise added to the test clips scored 0.617 against 0.549 clean.
# A 60 dB floor measured 0.529 under (b) (RAVDESS +1.5 points, TESS -3.8; experiments/README.md), so
# it is off. A 40 dB floor, two seeds on 3 folds, scored 0.582 against 0.586 and lost in noise and
# calibration with both seeds (experiments/README.md).
DYNAMIC_RANGE_DB = None
# Test-time noise: our model may predict a clip as the average of its probabilities for the clip
# and for noisy copies of it: the clip with white noise this many dB below its speech power, pauses
# and all (see noisy_view). neural_network.py either chooses among no copy and one of these SNRs on
# each fold's held-out speakers (never its test speakers), or averages in a copy at every one of
# them (its TEST_TIME_NOISE_RULE), and saves what it used with the model ("input":
# "test_time_noise_db": null for none, an SNR, or a list of SNRs). Measured in experiments/README.md
# (a third copy at 5 dB lost RAVDESS more than it gave TESS); neural_network.py --test-time-noise
# none tries none.
TEST_TIME_NOISE_DB = (20.0, 10.0)
# Test-time warps: our model may also average in each of those views (the clip, and its noisy copy
# when it has one) with its frequency axis scaled by each of these factors (warp_bands: the same
# speech from a slightly shorter or longer vocal tract, as TRAIN_WARP varies it in training).
# neural_network.py chooses, after the noise, between these warps and none on each fold's held-out
# speakers and saves the choice with the model ("input": "test_time_warps", null for none). Each
# warp adds one model call per view. neural_network.py --test-time-warps none tries none.
TEST_TIME_WARPS = (0.9, 1.1)
# Adam's (peak) learning rate for ``cnn``.
CNN_LEARNING_RATE = 1e-3


class ModelError(ValueError):
    """A model folder that cannot be used; the message names it and says what to do."""


# ----------------------------------------------------------------------------- inputs

def seed_input(feats):
    """Seed model input from stored features: list of (n_frames, N_MELS) -> (n, N_MFCC, 1)."""
    return np.stack([audio.mfcc(f).mean(axis=0) for f in feats])[:, :, None].astype(np.float32)


# The partner a ``cnn`` model blends in (see the module's docstring): its architecture's name, and
# the values it reads from a clip: its N_MFCC MFCC means, then its N_PROSODY prosody numbers.
PARTNER = "partner"
PARTNER_INPUTS = audio.N_MFCC + audio.N_PROSODY


def prosody_scale(prosody):
    """How the partner scales prosody, from its training files' (n, N_PROSODY) prosody: {"mean":
    list, "std": list} of N_PROSODY floats each (float32 values), a spread of 0 kept as 1."""
    prosody = np.asarray(prosody, dtype=np.float32)
    mean, std = prosody.mean(axis=0), prosody.std(axis=0)
    return {"mean": mean.tolist(), "std": np.where(std > 0, std, np.float32(1.0)).tolist()}


def partner_input(feats, prosody, scale):
    """The partner's input: feats, a list of n clips' (n_frames, N_MELS) features; prosody, their
    (n, N_PROSODY) prosody (audio.prosody); scale, prosody_scale's dict. Returns
    (n, PARTNER_INPUTS, 1) float32: each clip's MFCC means, then its prosody less the mean,
    divided by the spread."""
    prosody = np.asarray(prosody, dtype=np.float32).reshape(-1, audio.N_PROSODY)
    if len(prosody) != len(feats):
        raise ValueError(f"prosody of {len(prosody)} clips for the features of {len(feats)}; give one row per clip")
    means = np.stack([audio.mfcc(f).mean(axis=0) for f in feats]).astype(np.float32)
    scaled = (prosody - np.float32(scale["mean"])) / np.float32(scale["std"])
    return np.concatenate([means, scaled], axis=1)[:, :, None]


def build_partner(n_classes=len(EMOTIONS), *, seed=None):
    """A compiled partner: the seed's model (``build("seed")``: its layers and optimiser) on
    PARTNER_INPUTS values a clip, (n, PARTNER_INPUTS, 1) -> (n, n_classes). seed: draw its initial
    weights after keras.utils.set_random_seed(seed) (None: from Keras's random state as it is)."""
    import keras

    template = build("seed", n_classes)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    net = keras.Sequential([keras.Input((PARTNER_INPUTS, 1))]
                           + [type(layer).from_config(layer.get_config()) for layer in template.layers],
                           name=PARTNER)
    net.compile(optimizer=type(template.optimizer).from_config(template.optimizer.get_config()),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return net


def normalise(f, how=None, *, range_db=None):
    """Per-utterance normalisation of one log-mel matrix (n, N_MELS) -> (n, N_MELS) float32.

    how: "utterance" (one mean and standard deviation for the clip) or "band" (per mel band);
    None uses NORMALISATION. range_db: values more than this many dB below the clip's loudest are
    first raised to that floor (None: none are; our model uses DYNAMIC_RANGE_DB).
    """
    how = how or NORMALISATION
    if how not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {how!r}; choose one of {', '.join(NORMALISATIONS)}")
    f = np.asarray(f, dtype=np.float32)
    if range_db is not None:
        f = np.maximum(f, f.max() - np.float32(range_db))
    axis = None if how == "utterance" else 0
    return (f - f.mean(axis=axis)) / (f.std(axis=axis) + 1e-3)


def input_meta():
    """The input settings a model is trained with; saved in its metadata, used by Predictor."""
    return {"n_frames": N_FRAMES, "window_hop": WINDOW_HOP, "normalisation": NORMALISATION,
            "dynamic_range_db": DYNAMIC_RANGE_DB}


def fit_frames(f, n_frames=N_FRAMES, offset=None):
    """Crop or tile (n, C) to (n_frames, C).

    A long clip is cropped (centred, or from ``offset``); a short one is repeated end to end so that
    every frame the model sees is speech (``offset`` then rotates where the repetition starts).
    """
    n = len(f)
    if n >= n_frames:
        start = (n - n_frames) // 2 if offset is None else min(offset, n - n_frames)
        return f[start:start + n_frames]
    start = 0 if offset is None else offset % n
    return f[(np.arange(n_frames) + start) % n]


def windows(f, n_frames=N_FRAMES, hop=WINDOW_HOP):
    """Split a long (n, C) matrix into windows of n_frames: list of (n_frames, C), at least one."""
    if len(f) <= n_frames:
        return [fit_frames(f, n_frames)]
    starts = list(range(0, len(f) - n_frames + 1, hop))
    if starts[-1] != len(f) - n_frames:
        starts.append(len(f) - n_frames)
    return [f[s:s + n_frames] for s in starts]


def noisy_view(feats, power, snr_db):
    """The features of a clip's noisy copy, made from the clip's own: ``feats`` = audio.features(y)
    (n, N_MELS) and ``power`` = audio.frame_power(y) (every frame of y, pauses too). Returns
    (m, N_MELS) float32.

    The copy is the clip plus white noise ``snr_db`` below its speech power (the mean power of its
    loud frames), taken at the noise's expected power, so it needs no noise samples and no second
    spectrum: in every frame the copy's mel power is the noise's (audio.white_noise_mel) plus, over
    the loud frames, the clip's own (the pauses, at least TRIM_TOP_DB below the loudest frame, count
    as noise alone). The copy is then trimmed as audio.features trims; its pauses hold noise, so
    they are mostly kept. A clip of pure silence is its own copy.
    """
    loud = audio.loud_span(power)
    if loud is None:
        return np.asarray(feats, dtype=np.float32)
    first, last = loud
    if len(feats) != last - first + 1:
        raise ValueError(f"features of {len(feats)} frames are not those of this audio, whose loud "
                         f"frames are {first} to {last}; make both from the same clip")
    noise = float(np.mean(power[first:last + 1], dtype=np.float64)) / 10.0 ** (float(snr_db) / 10.0)
    start, end = audio.loud_span(power + np.float32(noise))
    mel = np.tile(audio.white_noise_mel(noise).astype(np.float32), (end - start + 1, 1))
    mel[first - start:last - start + 1] += 10.0 ** (np.asarray(feats, dtype=np.float32) / 10.0)
    return 10.0 * np.log10(np.maximum(mel, audio.POWER_FLOOR))


def warped_views(views, warps):
    """``views`` (a list of (n, N_MELS) log-mel matrices) followed by each of them warped by each
    factor of ``warps`` (warp_bands): a list of len(views) * (1 + len(warps)) matrices."""
    return list(views) + [warp_bands(v, w) for v in views for w in warps]


def noise_snrs(noise_db):
    """The SNRs of the test-time noisy copies that ``noise_db`` names: () for None, (x,) for one
    SNR x, the SNRs of a list or tuple as a tuple."""
    if noise_db is None:
        return ()
    if isinstance(noise_db, (list, tuple)):
        return tuple(float(x) for x in noise_db)
    return (float(noise_db),)


def noise_key(noise_db):
    """"10" or "20+10": the SNRs ``noise_db`` names (noise_snrs), as reports name the option."""
    return "+".join(f"{x:g}" for x in noise_snrs(noise_db))


def warps_key(warps):
    """"0.9,1.1": test-time warp factors as reports name them ("" for none)."""
    return ",".join(f"{w:g}" for w in warps or ())


def clip_views(y, noise_db=None, warps=(), *, power=None, mel=None):
    """The features a model predicts one clip from: [audio.features(y)], plus those of its noisy
    copy at each SNR ``noise_db`` names (noisy_view; None: none, one SNR, or several, see
    noise_snrs), plus each of those warped by every factor of ``warps`` (warped_views).
    y: (n_samples,) mono SAMPLE_RATE audio; power: audio.frame_power(y), and mel:
    audio.clip_mel(y), when the caller already has them. Each view (n_frames, N_MELS) float32; the
    copies keep the pauses."""
    power = audio.frame_power(y) if power is None else power  # for the trimming and the copy
    feats = audio.features(y, power=power, mel=mel)
    return warped_views([feats] + [noisy_view(feats, power, snr) for snr in noise_snrs(noise_db)], warps)


def cnn_input(feats):
    """Ours, for evaluation: list of (n_frames, N_MELS) -> (n, N_FRAMES, N_MELS), centred windows."""
    return np.stack([fit_frames(normalise(f, range_db=DYNAMIC_RANGE_DB)) for f in feats])


# Training-time augmentation of our model's input, drawn afresh for every example of every epoch.
# Vocal-tract warp: the spectrum's frequency axis scaled by a factor in this range (another speaker's
# formants); 1.0 for none.
TRAIN_WARP = (0.9, 1.1)
# Tempo: the frame axis stretched by a factor in this range (faster or slower speech).
TRAIN_STRETCH = (0.85, 1.15)
# SpecAugment masks per example:
FREQ_MASKS, FREQ_MASK_MAX = 2, 8      # bands set to the mean, up to 8 adjacent mel bands each
TIME_MASKS, TIME_MASK_MAX = 2, 25     # frames set to the mean, up to 25 adjacent frames each


def _interpolate(f, positions, axis):
    """f sampled at fractional ``positions`` along ``axis`` (linear interpolation, clamped)."""
    positions = np.clip(positions, 0, f.shape[axis] - 1)
    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, f.shape[axis] - 1)
    frac = (positions - lo).astype(np.float32)
    if axis == 0:
        return f[lo] * (1 - frac[:, None]) + f[hi] * frac[:, None]
    return f[:, lo] * (1 - frac) + f[:, hi] * frac


def warp_bands(f, factor):
    """Log-mel (n, N_MELS) of the same speech with every frequency multiplied by ``factor``."""
    centres = audio.mel_centres_hz()
    return _interpolate(f, np.interp(centres / factor, centres, np.arange(len(centres))), axis=1)


def stretch_frames(f, factor):
    """Log-mel (n, C) played ``factor`` times faster: (round(n / factor), C)."""
    n = max(int(round(len(f) / factor)), 1)
    return _interpolate(f, np.arange(n) * factor, axis=0)


def _log_uniform(rng, bounds):
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def cnn_train_example(f, rng):
    """One training example of our model: the clip warped and stretched at random, a random window
    of it, with SpecAugment masks. (n, N_MELS) -> (N_FRAMES, N_MELS) float32."""
    f = np.asarray(f, dtype=np.float32)
    f = stretch_frames(warp_bands(f, _log_uniform(rng, TRAIN_WARP)), _log_uniform(rng, TRAIN_STRETCH))
    f = normalise(f, range_db=DYNAMIC_RANGE_DB)
    x = fit_frames(f, N_FRAMES, offset=int(rng.integers(0, max(len(f), 1))))
    x = np.array(x, dtype=np.float32)
    for _ in range(FREQ_MASKS):
        w = int(rng.integers(0, FREQ_MASK_MAX + 1))
        b = int(rng.integers(0, audio.N_MELS - w + 1))
        x[:, b:b + w] = 0.0
    for _ in range(TIME_MASKS):
        w = int(rng.integers(0, TIME_MASK_MAX + 1))
        t = int(rng.integers(0, N_FRAMES - w + 1))
        x[t:t + w] = 0.0
    return x


# ----------------------------------------------------------------------------- architectures

def _tower(inputs, name, over, pool, blocks, n_classes):
    """One tower of ``cnn`` (see CNN_TOWERS): (batch, N_FRAMES, N_MELS) -> (batch, n_classes) softmax."""
    from keras import layers

    if over == "time":  # frames averaged, then convolved over time; mean and max over time at the end
        x = layers.AveragePooling1D(pool, name=f"{name}_frames")(inputs)
    elif over == "bands":  # per band: mean, variance (mean of squares - squared mean) and max over time
        mean = layers.GlobalAveragePooling1D(name=f"{name}_mean_in")(inputs)
        square = layers.GlobalAveragePooling1D(name=f"{name}_square_in")(
            layers.Multiply(name=f"{name}_squares")([inputs, inputs]))
        mean2 = layers.Multiply(name=f"{name}_mean2")([mean, mean])
        var = layers.Subtract(name=f"{name}_var_in")([square, mean2])
        peak = layers.GlobalMaxPooling1D(name=f"{name}_max_in")(inputs)
        x = layers.Concatenate(name=f"{name}_band_stats")([mean, var, peak])      # (3 * N_MELS,)
        x = layers.Reshape((3, audio.N_MELS), name=f"{name}_split")(x)
        x = layers.Permute((2, 1), name=f"{name}_bands")(x)                       # (N_MELS, 3)
    elif over in ("freq", "freq_pooled"):  # frames averaged; each frame convolved over mel bands, then time
        x = layers.AveragePooling1D(pool, name=f"{name}_frames")(inputs)
        frames, bands = N_FRAMES // pool, audio.N_MELS
        x = layers.Reshape((frames, bands, 1), name=f"{name}_spectra")(x)
        normed = over == "freq"
        for j, (filters, width, fpool) in enumerate(FREQ_BLOCKS):
            # A 1-D kernel along the mel axis, the same at every frame: what TimeDistributed(Conv1D)
            # computes, which Keras runs far more slowly.
            x = layers.Conv2D(filters, (1, width), padding="same", use_bias=not normed, name=f"{name}_fconv{j}")(x)
            if normed:
                x = layers.BatchNormalization(name=f"{name}_fnorm{j}")(x)
                x = layers.ReLU(name=f"{name}_frelu{j}")(x)
            x = layers.MaxPooling2D((1, fpool), name=f"{name}_fpool{j}")(x)
            if not normed:
                x = layers.ReLU(name=f"{name}_frelu{j}")(x)
            bands //= fpool
        x = layers.Reshape((frames, bands * filters), name=f"{name}_stack")(x)
    else:
        raise ValueError(f"tower {name!r}: unknown axis {over!r}; use time, bands, freq or freq_pooled")
    for i, (filters, width) in enumerate(blocks):
        x = layers.Conv1D(filters, width, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_norm{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
        x = layers.MaxPooling1D(2, name=f"{name}_pool{i}")(x)
        x = layers.SpatialDropout1D(0.1, name=f"{name}_drop{i}")(x)
    if over != "bands":  # any length of speech counts
        x = layers.Concatenate(name=f"{name}_stats")([layers.GlobalAveragePooling1D(name=f"{name}_mean")(x),
                                                      layers.GlobalMaxPooling1D(name=f"{name}_max")(x)])
    else:  # where in the spectrum a pattern sits matters
        x = layers.Flatten(name=f"{name}_flat")(x)
    x = layers.Dropout(0.4, name=f"{name}_dropout")(x)
    return layers.Dense(n_classes, activation="softmax", name=name)(x)


def build(arch, n_classes=len(EMOTIONS), *, learning_rate=None):
    """A compiled Keras model of architecture ``arch`` ("seed" or "cnn").

    learning_rate: a float or a keras LearningRateSchedule for ``cnn``; None: CNN_LEARNING_RATE.
    """
    import keras
    from keras import layers

    if arch == "seed":
        model = keras.Sequential([
            keras.Input((audio.N_MFCC, 1)),
            layers.Conv1D(64, 5, padding="same", activation="relu"),
            layers.Dropout(0.1),
            layers.Flatten(),
            layers.Dense(n_classes, activation="softmax"),
        ], name="seed")
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=5e-5),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
    if arch == "cnn":
        # Training sees one softmax output per tower (a dict by tower name); ``ensemble`` makes the
        # model that predicts their average.
        inputs = keras.Input((N_FRAMES, audio.N_MELS))
        unknown = [name for name in CNN_TOWERS if name not in TOWERS]
        if unknown or not CNN_TOWERS:
            raise ValueError(f"unknown towers {unknown or 'none'}; choose from {', '.join(TOWERS)}")
        outputs = {name: _tower(inputs, name, *TOWERS[name], n_classes) for name in CNN_TOWERS}
        model = keras.Model(inputs, outputs, name="cnn_towers")
        # One-hot targets, so that mixup can blend them (see neural_network.train_batches).
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate or CNN_LEARNING_RATE),
                      loss={name: "categorical_crossentropy" for name in outputs},
                      metrics={name: ["accuracy"] for name in outputs})
        return model
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def ensemble(net):
    """The model that predicts: ``net`` itself when it has one output, else the average of its
    towers' probabilities (a flat Keras model sharing the towers' layers; (N_FRAMES, N_MELS) -> (8,))."""
    import keras
    from keras import layers

    if isinstance(net, keras.Sequential) or not isinstance(net.output, dict):
        return net
    towers = list(net.output.values())
    average = layers.Average(name="average")(towers) if len(towers) > 1 else towers[0]
    return keras.Model(net.input, average, name="cnn")


def towers(net):
    """{tower name: Keras model of that tower alone} of a ``cnn`` ensemble; {} for one tower alone
    or the seed's model."""
    import keras

    names = [name for name in TOWERS if name in {layer.name for layer in net.layers}]
    if len(names) < 2:
        return {}
    return {name: keras.Model(net.input, net.get_layer(name).output) for name in names}


def tower_layers(net, name):
    """The layers of tower ``name`` in ``net`` (those ``_tower`` named after it), in model order."""
    return [layer for layer in net.layers if layer.name == name or layer.name.startswith(f"{name}_")]


def make_input(arch, feats):
    """Training/evaluation input of ``arch`` from a list of stored features (one window each)."""
    return seed_input(feats) if arch == "seed" else cnn_input(feats)


# ----------------------------------------------------------------------------- saving and loading

def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(path, write):
    """Call write(tmp_path) on a temporary file beside ``path``, then rename it over ``path``.

    A crash or an error inside ``write`` leaves whatever was at ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(keras_model, folder, *, arch, temperature=1.0, test_time_noise_db=None, test_time_warps=None,
         blend_with=None, prosody_scale=None, third_voice=None, fourth_voice=None, extra=None):
    """Save a trained model and its metadata as the model folder ``folder``. Returns the metadata.

    The whole folder is written beside ``folder`` and then swapped in for it (``replace_folder``), so
    a crash or an error leaves the old model, and the model it blends in, as they were. ``folder``
    must be new or a model folder: save refuses one that holds other files.
    A ``cnn`` model as ``build`` makes it (one output per tower) is saved as its ``ensemble``.
    test_time_noise_db: the SNR of the noisy copy Predictor averages with each clip, or a tuple of
    SNRs, a copy at each (None: none).
    test_time_warps: the warp factors of the views Predictor also averages in (None: none).
    blend_with: (a trained Keras model, its weight w, its prosody_scale) that Predictor blends in
    (see ``blend``), saved in ``folder``/BLEND_FOLDER: a PARTNER, or with a scale of None a
    ``seed``-architecture model; None: no blend.
    prosody_scale: for a PARTNER, how it scales prosody (``prosody_scale``), saved in its metadata.
    third_voice: the third voice Predictor blends in last, after the temperature: a dict of the
    THIRD_VOICE_ARRAYS, its weight w ("weight") and the penalty it was trained with ("c"), saved as
    THIRD_VOICE_FILE with the functionals' settings (audio.functionals_params); None: none.
    fourth_voice: the same for the fourth voice, blended in after the third, on each clip's speech
    embedding: saved as FOURTH_VOICE_FILE with embedding.params(); None: none.
    """
    return replace_folder(folder, lambda new: _write_model(
        keras_model, new, arch=arch, temperature=temperature, test_time_noise_db=test_time_noise_db,
        test_time_warps=test_time_warps, blend_with=blend_with, prosody_scale=prosody_scale,
        third_voice=third_voice, fourth_voice=fourth_voice, extra=extra))


def _write_third_voice(folder, third_voice, key="third_voice"):
    """Write a last voice's arrays (see ``save``; ``key``: which of LAST_VOICES) into ``folder``;
    its metadata entry."""
    file, what, n_inputs, settings = LAST_VOICES[key]
    arrays = {k: np.asarray(third_voice[k], dtype=np.float64) for k in THIRD_VOICE_ARRAYS}
    shapes = {"mean": (n_inputs,), "scale": (n_inputs,),
              "coef": (len(EMOTIONS), n_inputs), "intercept": (len(EMOTIONS),)}
    if any(arrays[k].shape != shape for k, shape in shapes.items()) or not 0 < third_voice["weight"] < 1:
        raise ValueError(f"a {key.replace('_', ' ')} takes arrays of shapes {shapes} and a weight between 0 and 1")
    path = Path(folder) / file
    write_atomic(path, lambda tmp: np.savez(tmp, **arrays))
    return {"file": file, "sha256": _sha256(path), "weight": float(third_voice["weight"]),
            "c": float(third_voice["c"]), ("functionals" if key == "third_voice" else "embedding"): settings()}


def _write_model(keras_model, folder, *, arch, temperature, test_time_noise_db, test_time_warps,
                 blend_with, prosody_scale=None, third_voice=None, fourth_voice=None, extra=None):
    """Write a model's files into the new, empty ``folder`` (see ``save``). Returns the metadata."""
    if (arch == PARTNER) != (prosody_scale is not None):
        raise ValueError(f"a {arch} model takes {'a' if arch == PARTNER else 'no'} prosody_scale")
    keras_model = ensemble(keras_model)
    folder = Path(folder)
    blended = None
    if blend_with is not None and arch not in ("seed", PARTNER):
        other, weight, scale = blend_with
        other_meta = _write_model(other, folder / BLEND_FOLDER, arch="seed" if scale is None else PARTNER,
                                  temperature=1.0, test_time_noise_db=None, test_time_warps=None,
                                  blend_with=None, prosody_scale=scale)
        blended = {"folder": BLEND_FOLDER, "weight": float(weight), "keras_sha256": other_meta["keras_sha256"]}
    third = (_write_third_voice(folder, third_voice)
             if third_voice is not None and arch not in ("seed", PARTNER) else None)
    fourth = (_write_third_voice(folder, fourth_voice, "fourth_voice")
              if fourth_voice is not None and arch not in ("seed", PARTNER) else None)
    write_atomic(folder / MODEL_FILE, lambda tmp: keras_model.save(tmp))
    keras_sha256 = _sha256(folder / MODEL_FILE)
    export = _export_copy(keras_model, folder, keras_sha256)
    inputs = ({"n_inputs": PARTNER_INPUTS, "prosody_scale": prosody_scale} if arch == PARTNER else
              {**input_meta(), "test_time_noise_db": (list(noise_snrs(test_time_noise_db))
                                                      if isinstance(test_time_noise_db, (list, tuple))
                                                      else test_time_noise_db),
               "test_time_warps": list(test_time_warps) if test_time_warps else None})
    meta = {"meta_version": META_VERSION, "emotions": list(EMOTIONS), "architecture": arch,
            "frontend": audio.frontend_params(), "input": inputs,
            "temperature": float(temperature), "keras_sha256": keras_sha256,
            **({"blend": blended} if blended else {}), **({"third_voice": third} if third else {}),
            **({"fourth_voice": fourth} if fourth else {}),
            **(extra or {}), "export": export}
    write_atomic(folder / META_FILE,
                  lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return meta


def check_model_folder(folder):
    """The absolute path of ``folder`` if ``save`` may replace it: new, or holding only a model's
    files (MODEL_ENTRIES). Raises ModelError otherwise."""
    folder = Path(os.path.abspath(folder))
    if folder.exists():
        foreign = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [folder.name]
        foreign = [name for name in foreign if name not in MODEL_ENTRIES]
        if foreign or not folder.is_dir():
            raise ModelError(f"{folder}: holds files that are not a model's ({', '.join(foreign[:3])}); "
                             "save the model into a new folder or over a model folder")
    return folder


def replace_folder(folder, fill):
    """Replace the model folder ``folder`` as a whole: call fill(new) on a new empty folder beside
    it, then swap that in. Returns what ``fill`` returns.

    A crash or an error inside ``fill`` leaves ``folder`` untouched. The swap is two renames:
    ``folder`` to ``.<name>.old-*`` beside it, then the new folder to ``folder``; the old one is
    then removed. A crash between the renames leaves no ``folder`` and the old model whole in the
    ``.old-*`` folder, which ``read_meta`` then names. Raises ModelError, writing nothing, when
    ``folder`` holds anything but a model's files: save into an empty or a model folder.
    """
    folder = check_model_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new-"))
    try:
        result = fill(new)
        os.chmod(new, 0o755)
        old = folder.with_name(f".{folder.name}.old-{new.name.rsplit('-', 1)[1]}")
        if folder.exists():
            os.rename(folder, old)
        try:
            os.rename(new, folder)
        except BaseException:
            if old.exists():
                os.rename(old, folder)
            raise
    finally:
        shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return result


def blend(probs, other, weight):
    """Product-of-experts blend of two models' probabilities, each (n, n_emotions):
    probs ** (1 - weight) * other ** weight, renormalised per row. weight 0 returns ``probs``."""
    if weight == 0:
        return probs
    log_p = (1 - weight) * np.log(np.clip(probs, 1e-7, 1)) + weight * np.log(np.clip(other, 1e-7, 1))
    p = np.exp(log_p - log_p.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def read_meta(folder):
    """Read and check a model folder's metadata. Returns the dict; raises ModelError."""
    folder = Path(folder)
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    left = sorted(folder.parent.glob(f".{folder.name}.old-*")) if not folder.exists() else []
    if left:  # see replace_folder
        raise ModelError(f"{folder}: missing, and a save that stopped part way left the previous model "
                         f"in {left[-1]}; rename that folder to {folder.name}")
    for p in (meta_path, model_path):
        if not p.is_file():
            raise ModelError(f"{p}: missing; train a model with `python neural_network.py`")
    try:
        meta = json.loads(meta_path.read_text())
        emotions, arch, frontend = meta["emotions"], meta["architecture"], meta["frontend"]
    except (ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{meta_path}: corrupted model metadata ({err.__class__.__name__}); "
                         "retrain with `python neural_network.py`") from None
    if meta.get("meta_version") != META_VERSION:
        raise ModelError(f"{meta_path}: metadata version {meta.get('meta_version')} is not "
                         f"{META_VERSION}; retrain with `python neural_network.py`")
    if frontend != audio.frontend_params():
        changed = sorted(k for k in set(frontend) | set(audio.frontend_params())
                         if frontend.get(k) != audio.frontend_params().get(k))
        raise ModelError(f"{meta_path}: model was trained with other front-end parameters "
                         f"({', '.join(changed)}); re-run create_features.py and neural_network.py")
    if arch not in (*ARCHITECTURES, PARTNER) or not emotions:
        raise ModelError(f"{meta_path}: unknown architecture {arch!r} or empty label list")
    scale = meta.get("input", {}).get("prosody_scale") if isinstance(meta.get("input"), dict) else None
    if arch == PARTNER and not (isinstance(scale, dict) and all(
            isinstance(scale.get(k), list) and len(scale[k]) == audio.N_PROSODY
            and all(isinstance(v, (int, float)) for v in scale[k]) for k in ("mean", "std"))
            and min(scale["std"]) > 0):
        raise ModelError(f"{meta_path}: a partner model without a valid prosody scaling; "
                         "retrain with `python neural_network.py`")
    if meta.get("keras_sha256") != _sha256(model_path):
        raise ModelError(f"{model_path}: does not match {META_FILE} (changed or half-copied); "
                         "retrain with `python neural_network.py`")
    b = meta.get("blend")
    if b is not None and not (isinstance(b, dict) and isinstance(b.get("folder"), str)
                              and isinstance(b.get("weight"), (int, float)) and 0 <= b["weight"] < 1
                              and isinstance(b.get("keras_sha256"), str) and arch not in ("seed", PARTNER)):
        raise ModelError(f"{meta_path}: corrupted blend entry {b!r}; retrain with `python neural_network.py`")
    for key, (file, _, _, _) in LAST_VOICES.items():
        voice = meta.get(key)
        if voice is not None and not (isinstance(voice, dict) and voice.get("file") == file
                                      and isinstance(voice.get("sha256"), str)
                                      and isinstance(voice.get("weight"), (int, float)) and 0 < voice["weight"] < 1
                                      and arch not in ("seed", PARTNER)):
            raise ModelError(f"{meta_path}: corrupted {key} entry; retrain with `python neural_network.py`")
    third = meta.get("third_voice")
    if third is not None and third.get("functionals") != audio.functionals_params():
        raise ModelError(f"{meta_path}: its third voice was trained on functionals made with other settings "
                         "than audio.py's; re-run create_features.py and neural_network.py")
    return meta


def check_fourth_voice(meta_path, meta):
    """Raise ModelError when the model of metadata ``meta`` (read from ``meta_path``) blends in a
    fourth voice whose speech embedding is not this machine's: its networks missing, or made with
    other networks or settings than embedding.py's."""
    fourth = meta.get("fourth_voice")
    if fourth is None:
        return
    try:
        here = embedding.params()
    except embedding.EmbeddingError as err:
        raise ModelError(f"{err} (this model's fourth voice reads it)") from None
    stored = fourth.get("embedding")
    if stored != here:
        changed = sorted(k for k in set(stored or {}) | set(here) if (stored or {}).get(k) != here.get(k))
        raise ModelError(f"{meta_path}: its fourth voice was trained on speech embeddings made with other "
                         f"networks or settings ({', '.join(changed)}) than embedding.py's; fetch them again "
                         "with `python embedding.py`, or re-run create_features.py and neural_network.py")


def read_third_voice(folder, meta, key="third_voice"):
    """A last voice's arrays (THIRD_VOICE_ARRAYS; ``key``: which of LAST_VOICES) of a model folder
    whose metadata ``meta`` names one, checked against it; raises ModelError."""
    _, what, n_inputs, _ = LAST_VOICES[key]
    path = Path(folder) / meta[key]["file"]
    if not path.is_file():
        raise ModelError(f"{path}: missing; retrain with `python neural_network.py`")
    if _sha256(path) != meta[key]["sha256"]:
        raise ModelError(f"{path}: does not match {META_FILE} (changed or half-copied); "
                         "retrain with `python neural_network.py`")
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in THIRD_VOICE_ARRAYS if k in stored}
    n = (len(meta["emotions"]), n_inputs)
    if (len(arrays) != len(THIRD_VOICE_ARRAYS) or arrays["coef"].shape != n
            or arrays["intercept"].shape != n[:1] or arrays["mean"].shape != n[1:]
            or arrays["scale"].shape != n[1:] or not np.all(arrays["scale"] > 0)):
        raise ModelError(f"{path}: not a {key.replace('_', ' ')} of {n[0]} emotions on {n[1]} {what}; "
                         "retrain with `python neural_network.py`")
    return arrays


def calibrate(probs, temperature):
    """Probabilities (n, k) with their logits divided by ``temperature`` (temperature scaling)."""
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Predictor:
    """A loaded model: turns audio into the probability of every emotion.

    Load it once and reuse it for many files (see ``load``).
    """

    def __init__(self, keras_model, meta, net=None):
        self.keras_model = keras_model  # None when loaded from the exported NumPy copy
        self.net = keras_model if net is None else net  # what predicts: Keras or numpy_model
        self.backend = "keras" if net is None else "numpy"
        self.meta = meta
        self.emotions = tuple(meta["emotions"])
        self.arch = meta["architecture"]
        self.temperature = float(meta.get("temperature", 1.0))
        inputs = meta["input"]
        self.n_frames = int(inputs.get("n_frames", N_FRAMES))  # a partner's input has no frames
        self.window_hop = int(inputs.get("window_hop", WINDOW_HOP))
        self.normalisation = inputs.get("normalisation", "band")
        self.range_db = inputs.get("dynamic_range_db")  # absent: saved before it existed
        self.noise_db = inputs.get("test_time_noise_db")  # None: the clip alone; an SNR or a list
        self.warps = tuple(inputs.get("test_time_warps") or ())  # (): no warped views
        self.prosody_scale = inputs.get("prosody_scale")  # a PARTNER's scaling of its prosody
        self.blended, self.blend_weight = None, 0.0  # the Predictor blended in (load)
        self.third_voice, self.third_weight = None, 0.0  # the third voice's arrays and weight (load)
        self.fourth_voice, self.fourth_weight = None, 0.0  # the fourth voice's arrays and weight (load)
        self.embedder = None  # the speech embedding's networks (embedding.Embedder), with a fourth voice

    @property
    def needs_prosody(self):
        """Whether this model, or the model it blends in, reads each clip's prosody."""
        return self.arch == PARTNER or (self.blended is not None and self.blended.needs_prosody)

    @property
    def needs_functionals(self):
        """Whether this model blends in a third voice, which reads each clip's functionals."""
        return self.third_voice is not None

    @property
    def needs_embedding(self):
        """Whether this model blends in a fourth voice, which reads each clip's speech embedding."""
        return self.fourth_voice is not None

    def third_voice_probs(self, functionals):
        """The third voice's probabilities (n_clips, n_emotions) of the clips' functionals
        (n_clips, N_FUNCTIONALS): its logistic regression, in NumPy."""
        return _regression_probs(self.third_voice, functionals)

    def fourth_voice_probs(self, embeddings):
        """The fourth voice's probabilities (n_clips, n_emotions) of the clips' speech embeddings
        (n_clips, embedding.N_EMBEDDING): its logistic regression, in NumPy."""
        return _regression_probs(self.fourth_voice, embeddings)

    def clip_alone(self):
        """From now on predict each clip by itself: no test-time noisy copy and no warped views,
        whatever the model was saved with. About 30 % less time per clip with a 20 dB copy saved
        (README, Speed), and less accurate on unseen voices (README, Results: the test-time noise
        table's "without" column). Returns self."""
        self.noise_db, self.warps = None, ()
        return self

    def _inputs(self, feats):
        """Model inputs of one clip's features, and how many rows (windows) it takes."""
        if self.arch == "seed":
            return seed_input([feats])
        return np.stack(windows(normalise(feats, self.normalisation, range_db=self.range_db), self.n_frames, self.window_hop))

    def clip_views(self, y, *, power=None, mel=None):
        """What this model predicts mono SAMPLE_RATE audio y from: a list of (n_frames, N_MELS)
        features, the clip's own and, with test-time noise, its noisy copy's, and with test-time
        warps each of those warped (see clip_views). power: audio.frame_power(y), and mel:
        audio.clip_mel(y), if known."""
        return clip_views(y, self.noise_db, self.warps, power=power, mel=mel)

    def clip_inputs(self, y):
        """Everything this model predicts mono SAMPLE_RATE audio y from: (``clip_views(y)``, its
        prosody (N_PROSODY,) when ``needs_prosody``, else None, its functionals (N_FUNCTIONALS,)
        when ``needs_functionals``, else None, its speech embedding (embedding.N_EMBEDDING,) when
        ``needs_embedding``, else None), for ``predict_inputs``. The prosody is then the
        functionals' last N_PROSODY numbers, which are audio.prosody's."""
        power = audio.frame_power(y)  # for the trimming of all four: taken once
        mel = audio.clip_mel(y, power=power)  # the features' and the functionals' start: taken once
        functionals = audio.functionals(y, power=power, mel=mel) if self.needs_functionals else None
        prosody = None
        if self.needs_prosody:
            prosody = (functionals[-audio.N_PROSODY:] if functionals is not None
                       else audio.prosody(y, power=power))
        embedded = self.embedder.embed(y, power=power) if self.needs_embedding else None
        return self.clip_views(y, power=power, mel=mel), prosody, functionals, embedded

    def predict_inputs(self, inputs):
        """Probabilities (n_clips, n_emotions) for a list of ``clip_inputs`` results."""
        return self.predict_features(
            [views for views, _, _, _ in inputs],
            prosody=np.stack([p for _, p, _, _ in inputs]) if self.needs_prosody else None,
            functionals=np.stack([f for _, _, f, _ in inputs]) if self.needs_functionals else None,
            embeddings=np.stack([e for _, _, _, e in inputs]) if self.needs_embedding else None)

    def predict_features(self, feats_list, prosody=None, functionals=None, embeddings=None):
        """Probabilities for a batch of clips: (n_clips, n_emotions) float.

        Each item of ``feats_list`` is one clip's features (n_frames, N_MELS), or a list of views
        of it (``clip_views``): each view's windows are averaged, then the views. prosody: the
        clips' (n_clips, N_PROSODY) prosody (audio.prosody), which a model that ``needs_prosody``
        must have; a PARTNER reads each clip's own features (the first view) and its prosody.
        functionals: the clips' (n_clips, N_FUNCTIONALS) functionals (audio.functionals), which a
        model that ``needs_functionals`` must have: its third voice, blended in after the temperature.
        embeddings: the clips' (n_clips, embedding.N_EMBEDDING) speech embeddings (embedding.Embedder),
        which a model that ``needs_embedding`` must have: its fourth voice, blended in last.
        """
        views = [f if isinstance(f, (list, tuple)) else [f] for f in feats_list]
        if self.needs_prosody and prosody is None:
            raise ValueError("this model reads each clip's prosody too: give prosody= (audio.prosody "
                             "of each clip), or predict with predict_waveform or predict_inputs")
        if self.needs_functionals and functionals is None:
            raise ValueError("this model reads each clip's functionals too: give functionals= "
                             "(audio.functionals of each clip), or predict with predict_waveform or "
                             "predict_inputs")
        if self.needs_embedding and embeddings is None:
            raise ValueError("this model reads each clip's speech embedding too: give embeddings= "
                             "(embedding.Embedder().embed of each clip), or predict with predict_waveform "
                             "or predict_inputs")
        if self.arch == PARTNER:
            x = partner_input([clip[0] for clip in views], prosody, self.prosody_scale)
            return calibrate(np.asarray(self.net(x, training=False), dtype=np.float64), self.temperature)
        rows = [[self._inputs(f) for f in clip] for clip in views]
        batch = np.concatenate([r for clip in rows for r in clip])
        probs = np.asarray(self.net(batch, training=False), dtype=np.float64)
        out, i = [], 0
        for clip in rows:
            per_view = []
            for r in clip:
                per_view.append(probs[i:i + len(r)].mean(axis=0))
                i += len(r)
            out.append(np.mean(per_view, axis=0))
        out = np.array(out)
        if self.blended is not None:  # the blended-in model reads each clip's own features only
            out = blend(out, self.blended.predict_features([clip[0] for clip in views], prosody=prosody),
                        self.blend_weight)
        out = calibrate(out, self.temperature)  # as neural_network.py fits it
        if self.third_voice is not None:  # last, as neural_network.py chooses its weight
            out = blend(out, self.third_voice_probs(functionals), self.third_weight)
        if self.fourth_voice is not None:  # then the fourth, as neural_network.py chooses its weight
            out = blend(out, self.fourth_voice_probs(embeddings), self.fourth_weight)
        return out

    def predict_waveform(self, y, name="audio"):
        """{emotion: probability} for mono SAMPLE_RATE audio, all emotions, most likely first."""
        audio.check_clip(y, name)
        return self.as_dict(self.predict_inputs([self.clip_inputs(y)])[0])

    def predict_file(self, path):
        """{emotion: probability} for one audio file; raises audio.AudioError for bad audio."""
        return self.predict_waveform(audio.load_audio(path), path)

    def as_dict(self, probs):
        order = np.argsort(-probs, kind="stable")
        return {self.emotions[i]: float(probs[i]) for i in order}


def expected_input_shape(meta):
    """The input shape (without the batch axis) a model with this metadata must take."""
    if meta["architecture"] == "seed":
        return (audio.N_MFCC, 1)
    return (int(meta["input"]["n_frames"]), audio.N_MELS)


def input_shape(meta):
    """expected_input_shape, a PARTNER's too: (PARTNER_INPUTS, 1)."""
    return (PARTNER_INPUTS, 1) if meta["architecture"] == PARTNER else expected_input_shape(meta)


def load(folder, backend="auto"):
    """Load a saved model folder as a Predictor; raises ModelError with a one-line reason.

    backend: "auto" runs the exported NumPy copy when the folder records one (fast, no Keras),
    else the Keras model; "numpy" requires the copy; "keras" always loads the .keras file.
    """
    meta = read_meta(folder)
    if backend not in ("auto", "numpy", "keras"):
        raise ValueError(f"unknown backend {backend!r}; use auto, numpy or keras")
    if backend == "numpy" or (backend == "auto" and meta.get("export")):
        predictor = Predictor(None, meta, net=load_export(folder, meta))
    else:
        model_path = Path(folder) / MODEL_FILE
        import keras
        try:
            keras_model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        except Exception as err:  # Keras raises many types for a damaged file; all mean the same here
            raise ModelError(f"{model_path}: cannot be loaded ({err.__class__.__name__}); "
                             "retrain with `python neural_network.py`") from None
        expected = input_shape(meta)
        if tuple(keras_model.input_shape[1:]) != expected or keras_model.output_shape[-1] != len(meta["emotions"]):
            raise ModelError(f"{model_path}: input {keras_model.input_shape[1:]} or output "
                             f"{keras_model.output_shape[-1]} does not match {META_FILE}; retrain")
        predictor = Predictor(keras_model, meta)
    if meta.get("blend"):
        sub = Path(folder) / meta["blend"]["folder"]
        other = load(sub, backend)
        if (other.arch not in ("seed", PARTNER) or other.emotions != predictor.emotions
                or other.meta["keras_sha256"] != meta["blend"]["keras_sha256"]):
            raise ModelError(f"{sub}: not the model {Path(folder) / META_FILE} blends in (another "
                             "architecture, label list or .keras file); retrain with `python neural_network.py`")
        predictor.blended, predictor.blend_weight = other, float(meta["blend"]["weight"])
    if meta.get("third_voice"):
        predictor.third_voice = read_third_voice(folder, meta)
        predictor.third_weight = float(meta["third_voice"]["weight"])
    if meta.get("fourth_voice"):
        check_fourth_voice(Path(folder) / META_FILE, meta)
        predictor.fourth_voice = read_third_voice(folder, meta, "fourth_voice")
        predictor.fourth_weight = float(meta["fourth_voice"]["weight"])
        try:
            predictor.embedder = embedding.Embedder()
        except embedding.EmbeddingError as err:
            raise ModelError(f"{err} (this model's fourth voice reads it)") from None
    return predictor


def _regression_probs(voice, x):
    """(n, n_emotions) probabilities of the rows of ``x`` (n, d) from a last voice's arrays
    (THIRD_VOICE_ARRAYS): its scaling, then its logistic regression's softmax."""
    logits = ((np.asarray(x, dtype=np.float64) - voice["mean"]) / voice["scale"]) @ voice["coef"].T + voice["intercept"]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- the exported NumPy copy

def _export_copy(keras_model, folder, keras_sha256):
    """Write the NumPy copy beside the .keras file; its metadata entry, or None if not exportable."""
    try:
        digest = numpy_model.export(keras_model, Path(folder) / numpy_model.EXPORT_FILE,
                                    keras_sha256=keras_sha256)
    except numpy_model.ExportError as err:
        print(f"warning: no fast NumPy copy of this model ({err}); predictions will load Keras",
              file=sys.stderr)
        return None
    return {"file": numpy_model.EXPORT_FILE, "format": numpy_model.EXPORT_FORMAT,
            "version": numpy_model.EXPORT_VERSION, "sha256": digest, "keras_sha256": keras_sha256}


def reexport(folder):
    """Rewrite a model folder's NumPy copy from its .keras file and record it, and that of the model
    it blends in. Returns the metadata. Like ``save``, it swaps in a rewritten copy of the folder."""
    read_meta(folder)  # a damaged folder is refused before anything is copied

    def fill(new):
        shutil.copytree(folder, new, dirs_exist_ok=True)
        return _reexport_in_place(new)

    return replace_folder(folder, fill)


def _reexport_in_place(folder):
    meta = read_meta(folder)
    if meta.get("blend"):
        _reexport_in_place(Path(folder) / meta["blend"]["folder"])
    keras_model = load(folder, backend="keras").keras_model
    meta["export"] = _export_copy(keras_model, folder, meta["keras_sha256"])
    if meta["export"] is None:
        raise ModelError(f"{Path(folder) / MODEL_FILE}: has layers the NumPy export does not support")
    write_atomic(Path(folder) / META_FILE,
                 lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=2) + "\n"))
    return meta


def load_export(folder, meta):
    """The folder's exported NumPy copy, checked against the metadata; raises ModelError."""
    folder = Path(folder)
    export = meta.get("export")
    fix = "re-export it with `python numpy_model.py --model-dir " + str(folder) + "`"
    if not export:
        raise ModelError(f"{folder / META_FILE}: records no NumPy copy of the model; {fix}")
    path = folder / export.get("file", numpy_model.EXPORT_FILE)
    if not path.is_file():
        raise ModelError(f"{path}: missing; {fix}")
    if export.get("keras_sha256") != meta["keras_sha256"]:
        raise ModelError(f"{path}: stale, made from another {MODEL_FILE}; {fix}")
    if export.get("sha256") != _sha256(path):
        raise ModelError(f"{path}: does not match {META_FILE} (changed or half-copied); {fix}")
    if export.get("format") != numpy_model.EXPORT_FORMAT or export.get("version") != numpy_model.EXPORT_VERSION:
        raise ModelError(f"{path}: export format {export.get('format')} v{export.get('version')} "
                         f"is not {numpy_model.EXPORT_FORMAT} v{numpy_model.EXPORT_VERSION}; {fix}")
    try:
        net = numpy_model.NumpyModel.read(path)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{path}: cannot be read ({err.__class__.__name__}); {fix}") from None
    if net.graph.get("keras_sha256") != meta["keras_sha256"]:
        raise ModelError(f"{path}: stale, made from another {MODEL_FILE}; {fix}")
    expected = input_shape(meta)
    if tuple(net.input_shape[1:]) != expected or net.output_shape[-1] != len(meta["emotions"]):
        raise ModelError(f"{path}: input {net.input_shape[1:]} or output {net.output_shape[-1]} "
                         f"does not match {META_FILE}; {fix}")
    return net
