"""Measured: a pretrained voice encoder's embeddings as a licence-free third voice in the blend.

    .venv/bin/pip download --no-deps Resemblyzer==0.1.4 -d joblib_features   # its weights, once (16 MB)
    # first a run without the shipped third voice (neural_network.THIRD_VOICE), to blend a voice into:
    python neural_network.py --no-third-voice --no-ship --protocols b --baseline none --predictions runs/b.csv
    python experiments/voice_encoder.py --predictions runs/b.csv   # 8 min here the first time

Every voice we blend so far learns from our 26 speakers alone. Resemblyzer's voice encoder (Apache
2.0; a 3-layer LSTM trained to tell thousands of speakers apart on LibriSpeech, VoxCeleb 1 and 2)
has heard far more voices; what it keeps of a clip (pitch range, voice quality, speaking style) may
carry an emotion across voices that ours never heard. Its weights ship inside its wheel on PyPI;
this reads them from the wheel and runs the encoder in NumPy, so neither torch nor the wheel's own
code is installed or imported.

1. Embeddings: for each file of the features file, loaded and silence-trimmed by our front end
   (audio.load_audio, audio.trim_silence: the clip our models hear), brought to TARGET_DBFS, the
   encoder's 40-band mel frames (``encoder_mel``), cut into partial utterances of PARTIAL_FRAMES
   frames as the encoder's own code cuts them (``partial_slices``), each embedded, and their mean
   normalised (``embed``): 256 numbers per clip. Kept in ENCODER_NAME beside the features file,
   with the files, front end settings, the wheel's hash and this script's code they were made
   from; making them prints their time per clip.
2. Probabilities: for each protocol (b) fold k, a logistic regression (compare_partner's
   LR_SETTINGS) on every other fold's files; its penalty C is the one of C_GRID that scores best on
   the RAVDESS actors of the other folds, each predicted by a classifier trained without them and
   without fold k (own_functionals.choose_c). Kept in PARTNER_NAME.
3. Blend: as compare_partner.py, into every predictions CSV given, each fold's w chosen on the
   other folds' RAVDESS actors.
It prints, before any emotion is scored, how well the embeddings tell the RAVDESS actors apart (a
check that the weights were read and the encoder runs as trained), then the classifier alone and
each CSV alone and blended (accuracy overall, per corpus, on the RAVDESS women and men), the C and
w of each fold; ``--out`` writes the blended runs.

Verdict (2026-12-05): it fails its bar and is not shipped. On seven seeds it raised the unseen
actors (+1.7 on the mean) and cost an unseen TESS voice far more (-5.5): -3.1 overall
(experiments/README.md, "Measured: the voice encoder's embeddings fail their bar").
"""

import inspect
import io
import pickle
import sys
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
from create_features import DATASET_DIR  # noqa: E402
from embedding import wheel_members  # noqa: E402  (reads a model out of a checked PyPI wheel)
from experiments.compare_partner import (LR_SETTINGS, blend_parser, blend_runs, cached,  # noqa: E402
                                         describe, file_rows, parse_blend_args, read_runs)
from experiments.own_functionals import classified  # noqa: E402
from neural_network import speaker_folds  # noqa: E402

import numpy as np  # noqa: E402

# The encoder's wheel on PyPI, the weights file inside it, and the wheel's SHA-256 (checked).
WHEEL_NAME = "Resemblyzer-0.1.4-py3-none-any.whl"
WEIGHTS_MEMBER = "resemblyzer/pretrained.pt"
WHEEL_SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
# Where the embeddings and the classifier's probabilities and C are kept, beside the features file.
ENCODER_NAME = "voice_encoder.joblib"
PARTNER_NAME = "voice_encoder_probabilities.joblib"
# The penalties C tried for the classifier, each fold choosing its own on other speakers.
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# The encoder's front end, as it was trained (its hparams.py): 25 ms windows every 10 ms, 40 mel
# bands of power (not log), at our SAMPLE_RATE (16 kHz, the encoder's too).
MEL_WINDOW = 400
MEL_HOP = 160
MEL_BANDS = 40
# Each clip's RMS level before its mel frames, in dB below full scale (the encoder's training
# brought quieter clips up to -30 dBFS; here every clip is brought to it, so that gain changes nothing).
TARGET_DBFS = -30.0
# Frames in a partial utterance (1.6 s), partial utterances per second, and the share of a last
# partial that must be audio for it to be kept (the encoder's own defaults).
PARTIAL_FRAMES = 160
PARTIAL_RATE = 1.3
MIN_COVERAGE = 0.75


class _Tensor:
    """A tensor of a legacy torch file, kept until its storage's bytes are read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        data = self.storage["data"]
        return np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=[s * data.itemsize for s in self.stride]).copy()


class _TorchUnpickler(pickle.Unpickler):
    """Reads the pickles of a legacy (non-zip) torch file, allowing only tensors, float storages
    and ordered dicts; every storage it meets is collected in ``storages`` by key."""

    def __init__(self, f):
        super().__init__(f)
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: _Tensor(storage, offset, size, stride)
        if (module, name) == ("torch", "FloatStorage"):
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the encoder's weights")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size, _view = pid
        if kind != "storage" or storage_type != "FloatStorage":
            raise pickle.UnpicklingError(f"unexpected storage {pid!r} in the encoder's weights")
        return self.storages.setdefault(key, {"size": size})


def read_weights(wheel):
    """{name: float32 array}: the voice encoder's weights (the LSTM's and the linear layer's, as
    torch names them) read from ``wheel`` without torch. Raises ValueError naming the wheel when it
    is missing or not the one of WHEEL_SHA256 (wheel_members)."""
    f = io.BytesIO(wheel_members(wheel, "Resemblyzer==0.1.4", WHEEL_SHA256, [WEIGHTS_MEMBER])[0])
    for _ in range(3):  # the magic number, the protocol version, the system's byte order and sizes
        pickle.load(f)
    unpickler = _TorchUnpickler(f)
    checkpoint = unpickler.load()
    for key in pickle.load(f):  # the storages' bytes follow, in this order, each after its length
        count = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        unpickler.storages[key]["data"] = np.frombuffer(f.read(4 * count), dtype="<f4")
    return {name: t.array() for name, t in checkpoint["model_state"].items()}


def encoder_mel(y):
    """(n_frames, MEL_BANDS) float32: the encoder's power mel frames of y (n_samples,) at SAMPLE_RATE."""
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=audio.SAMPLE_RATE, n_fft=MEL_WINDOW,
                                         hop_length=MEL_HOP, n_mels=MEL_BANDS)
    return mel.astype(np.float32).T


def partial_slices(n_samples):
    """[(first, last + 1) frame of each partial utterance] of a clip of ``n_samples``, as the
    encoder's own code cuts them: one every 1 / PARTIAL_RATE s, the last kept when at least
    MIN_COVERAGE of it is audio (or when it is the only one)."""
    n_frames = int(np.ceil((n_samples + 1) / MEL_HOP))
    step = int(np.round(audio.SAMPLE_RATE / PARTIAL_RATE / MEL_HOP))
    slices = [(i, i + PARTIAL_FRAMES) for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    start = slices[-1][0] * MEL_HOP
    coverage = (n_samples - start) / (PARTIAL_FRAMES * MEL_HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def encode(mels, weights):
    """(batch, 256) embeddings of ``mels`` (batch, n_frames, MEL_BANDS): the encoder's 3-layer LSTM
    (torch's gate order: input, forget, cell, output), its last hidden state through the linear
    layer and a ReLU, each row scaled to length 1."""
    x = mels.astype(np.float32)
    layer = 0
    while f"lstm.weight_ih_l{layer}" in weights:
        w_ih, w_hh = weights[f"lstm.weight_ih_l{layer}"], weights[f"lstm.weight_hh_l{layer}"]
        bias = weights[f"lstm.bias_ih_l{layer}"] + weights[f"lstm.bias_hh_l{layer}"]
        hidden = w_hh.shape[1]
        inputs = x @ w_ih.T + bias  # (batch, n_frames, 4 * hidden), every frame at once
        h = np.zeros((len(x), hidden), dtype=np.float32)
        c = np.zeros_like(h)
        out = np.empty((len(x), x.shape[1], hidden), dtype=np.float32)
        for t in range(x.shape[1]):
            gates = inputs[:, t] + h @ w_hh.T
            i, f, g, o = np.split(gates, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            out[:, t] = h
        x, layer = out, layer + 1
    raw = np.maximum(h @ weights["linear.weight"].T + weights["linear.bias"], 0.0)
    return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)


def embed(y, weights):
    """(256,) float32: the voice encoder's embedding of y (n_samples,) mono SAMPLE_RATE audio,
    trimmed as audio.features trims it and brought to TARGET_DBFS: the mean of its partial
    utterances' embeddings, scaled to length 1."""
    y = audio.trim_silence(np.ascontiguousarray(y, dtype=np.float32)).astype(np.float64)
    rms = np.sqrt(np.mean(y ** 2))
    y = (y * (10.0 ** (TARGET_DBFS / 20.0) / max(rms, 1e-9))).astype(np.float32)
    slices = partial_slices(len(y))
    y = np.pad(y, (0, max(0, slices[-1][1] * MEL_HOP - len(y))))
    mel = encoder_mel(y)
    partials = encode(np.stack([mel[a:b] for a, b in slices]), weights)
    mean = partials.mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def timed_rows(paths, embed_clip, what, *, root=DATASET_DIR, log=print):
    """(n, d) float32: ``embed_clip(y)`` of each file of ``paths`` (relative to ``root``), loaded
    by audio.load_audio; logs progress and the mean time per clip of ``what``. Raises
    audio.AudioError naming a file that cannot be read."""
    rows, spent = [], 0.0
    for i, path in enumerate(paths):
        y = audio.load_audio(Path(root) / path)
        start = time.perf_counter()
        rows.append(embed_clip(y))
        spent += time.perf_counter() - start
        if (i + 1) % 500 == 0:
            log(f"  {what}: {i + 1} of {len(paths)} files")
    if paths:
        log(f"the {what} took {1000 * spent / len(paths):.1f} ms per clip on the mean, one process")
    return np.array(rows, dtype=np.float32)


def encoder_features(paths, weights, *, root=DATASET_DIR, log=print):
    """(n, 256) float32: ``embed`` of each file of ``paths`` (relative to ``root``). Raises
    audio.AudioError naming a file that cannot be read."""
    return timed_rows(paths, lambda y: embed(y, weights), "voice encoder", root=root, log=log)


def made_from(paths):
    """What the embeddings of ``paths`` depend on besides the audio: the files, the front end's
    settings, the wheel and the source of this script's encoder code."""
    code = "".join(inspect.getsource(f) for f in (encoder_mel, partial_slices, encode, embed))
    settings = repr((WHEEL_SHA256, MEL_WINDOW, MEL_HOP, MEL_BANDS, TARGET_DBFS, PARTIAL_FRAMES,
                     PARTIAL_RATE, MIN_COVERAGE))
    return {"paths": list(paths), "frontend": audio.frontend_params(), "code": code + settings}


def speaker_check(x, data):
    """Accuracy of telling the RAVDESS actors apart from ``x`` (n, d) embeddings: each RAVDESS clip
    given the actor whose other clips' mean embedding is nearest (cosine). Chance is 1/24."""
    ravdess = np.asarray(data["corpus"]) == "RAVDESS"
    e = x[ravdess] / np.linalg.norm(x[ravdess], axis=1, keepdims=True)
    speakers = np.asarray(data["speaker"])[ravdess]
    names = sorted(set(speakers))
    sums = np.stack([e[speakers == s].sum(axis=0) for s in names])
    counts = np.array([(speakers == s).sum() for s in names])
    own = np.array([names.index(s) for s in speakers])
    right = 0
    for i, row in enumerate(e):
        means = sums.copy()
        means[own[i]] -= row  # the clip's own actor without the clip
        means /= (counts - (np.arange(len(names)) == own[i]))[:, None]
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        right += int(np.argmax(means @ row) == own[i])
    return right / len(e)


def main(argv=None):
    parser = blend_parser(__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path,
                        help=f"the encoder's wheel (default: {WHEEL_NAME} beside the features file)")
    args = parse_blend_args(parser, argv)
    wheel = args.wheel or args.features.parent / WHEEL_NAME
    try:
        weights = read_weights(wheel)
    except ValueError as err:
        sys.exit(f"error: {err}")
    data, runs = read_runs(args.predictions, args.model, args.features)
    try:
        x = cached(args.features.parent / ENCODER_NAME, made_from(data["path"]),
                   lambda: encoder_features(data["path"], weights, root=args.dataset), what="voice encoder's embeddings")
    except audio.AudioError as err:  # a corpus file gone since the features were made
        sys.exit(f"error: {err}; --dataset names the corpora's folder the features were made from")
    actors = len({s for c, s in zip(data["corpus"], data["speaker"]) if c == "RAVDESS"})
    print(f"the embeddings tell the {actors} RAVDESS actors apart {speaker_check(x, data):.3f} of the time "
          f"(nearest actor's mean embedding; chance {1 / max(actors, 1):.3f})")
    labels = np.asarray(data["labels"])
    folds = speaker_folds(data)
    choosers = np.asarray(data["corpus"]) == "RAVDESS"
    rows = file_rows(data, "encoder")
    key = {**made_from(data["path"]), "c_grid": C_GRID, "lr": LR_SETTINGS, "labels": labels.tolist()}
    partner = classified(x, labels, folds, choosers, args.features.parent / PARTNER_NAME, key, grid=C_GRID)
    print(f"the voice encoder's classifier alone: {describe(partner, labels, rows)}")
    blend_runs(args.predictions, runs, partner, data, outs=args.out, choose_on=args.choose_on)


if __name__ == "__main__":
    main()
