"""Google's speech embedding, the fourth voice's front end: fetch its two networks, embed a clip.

    python embedding.py                                  # fetch them into pretrained/speech_embedding/ (setup.sh does)
    python embedding.py --wheel openwakeword-0.5.1-py3-none-any.whl   # from a wheel already downloaded
    python embedding.py --clip examples/03-01-05-02-01-01-13.wav      # a clip's 288 numbers, timed warm

Google's speech embedding (TF Hub ``speech_embedding``, Apache 2.0) is a convolutional network
trained for keyword spotting on far more voices than our corpora's 26. openWakeWord's wheel on
PyPI (0.5.1, Apache 2.0) carries it as two ONNX files: a log-mel front end (32 bands every 10 ms)
and the embedding network (96 numbers for every window of 76 frames). ``fetch`` downloads the wheel
with pip, checks its SHA-256, and writes the two files and the wheel's licence into NETWORK_DIR;
nothing of openWakeWord is installed or imported. ``Embedder`` runs them with onnxruntime on one
thread (no TensorFlow): each clip is silence-trimmed by audio.trim_silence, brought to TARGET_DBFS,
padded to MIN_SECONDS, windowed every STEP_FRAMES frames, and summarised as the mean, standard
deviation and maximum of its windows' embeddings: N_EMBEDDING numbers. create_features.py stores
them for every file, neural_network.py trains the fourth voice on them, and model.Predictor
computes them again for each clip it predicts; ``params()`` travels with both and is checked.
Measured in experiments/README.md ("Google's speech embedding as a fourth voice passes its bar").
"""

import argparse
import functools
import hashlib
import io
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

import audio

# openWakeWord's wheel on PyPI and its SHA-256 (checked before anything is read from it).
REQUIREMENT = "openWakeWord==0.5.1"
WHEEL_NAME = "openwakeword-0.5.1-py3-none-any.whl"
WHEEL_SHA256 = "015467e49f08b0ef8efa433690ce70566abb72f7c36501a6fa893762b4ddc559"
# The files fetch writes into NETWORK_DIR: {name there: its path inside the wheel}.
MEL_FILE = "melspectrogram.onnx"
NETWORK_FILE = "embedding_model.onnx"
LICENSE_FILE = "LICENSE"
MEMBERS = {MEL_FILE: "openwakeword/resources/models/melspectrogram.onnx",
           NETWORK_FILE: "openwakeword/resources/models/embedding_model.onnx",
           LICENSE_FILE: "openwakeword-0.5.1.dist-info/LICENSE"}
# Where the networks live: outside model/ (a saved model replaces that folder as a whole), not
# committed (setup.sh fetches them).
NETWORK_DIR = Path(__file__).resolve().parent / "pretrained" / "speech_embedding"
# The embedding network's window (76 frames of 10 ms, 0.76 s) and the step between windows (8
# frames, 80 ms), as openWakeWord runs it; a clip shorter than MIN_SECONDS is padded with silence
# (one window needs 0.78 s of audio).
WINDOW_FRAMES = 76
STEP_FRAMES = 8
MIN_SECONDS = 1.0
# Each clip's RMS level, in dB below full scale, before its 16-bit samples (so gain changes nothing).
TARGET_DBFS = -25.0
# The front end's mel bands per frame, and one window's embedding size.
MEL_BANDS = 32
EMBEDDING_SIZE = 96
# A clip's numbers: the mean, standard deviation and maximum of its windows' embeddings.
N_EMBEDDING = 3 * EMBEDDING_SIZE
# Windows the embedding network runs at once (256: 20 s of speech). A long file goes through in
# batches of this many, so its memory stays bounded: live_predictions.py on a 10-minute file peaked
# at 4698 MB with all its 7491 windows at once, 1210 MB in batches (benchmarks/long_file.py; README,
# Speed). Each window's numbers are the same bits either way, so the setting is not in ``params``.
WINDOW_BATCH = 256
# Calls timed by --clip after the first (which also starts the sessions); their median is printed.
TIMED_CALLS = 5


class EmbeddingError(ValueError):
    """The speech embedding's networks missing, damaged or not the ones expected; the message names
    the file and says how to fetch them."""


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _fix(folder):
    return f"fetch them with `python embedding.py{'' if Path(folder) == Path(NETWORK_DIR) else f' --dir {folder}'}`"


@functools.lru_cache(maxsize=None)
def _network_digests(folder):
    """{file: SHA-256} of the two networks in ``folder``; raises EmbeddingError when one is missing."""
    digests = {}
    for name in (MEL_FILE, NETWORK_FILE):
        path = Path(folder) / name
        if not path.is_file():
            raise EmbeddingError(f"{path}: missing (Google's speech embedding, the fourth voice's network); "
                                 + _fix(folder))
        digests[name] = _sha256(path)
    return digests


def params(folder=None):
    """What a clip's embedding depends on, as saved beside features and models and checked there:
    the windowing and levelling settings and the two networks' SHA-256 (those in ``folder``, None:
    NETWORK_DIR). Raises EmbeddingError when a network is missing."""
    folder = NETWORK_DIR if folder is None else folder
    return {"window_frames": WINDOW_FRAMES, "step_frames": STEP_FRAMES, "min_seconds": MIN_SECONDS,
            "target_dbfs": TARGET_DBFS, "mel_bands": MEL_BANDS, "embedding_size": EMBEDDING_SIZE,
            "sample_rate": audio.SAMPLE_RATE, "trim_top_db": audio.TRIM_TOP_DB,
            "networks": _network_digests(str(Path(folder)))}


def wheel_members(wheel, requirement, sha256, members):
    """[the bytes of each of ``members``] inside ``wheel``, the wheel of ``requirement``
    ("Name==version") on PyPI. Raises EmbeddingError naming the wheel when it is missing (saying how
    to download it) or its SHA-256 is not ``sha256``."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise EmbeddingError(f"{wheel}: no such file; download it with `.venv/bin/pip download --no-deps "
                             f"{requirement} -d {wheel.parent}`")
    content = wheel.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise EmbeddingError(f"{wheel}: not {requirement.replace('==', ' ')}'s wheel (SHA-256 {digest}); "
                             "download it again")
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return [z.read(m) for m in members]


def fetch(folder=None, *, wheel=None, log=print):
    """Write the two networks and the licence (MEMBERS) into ``folder`` from openWakeWord's wheel:
    ``wheel`` (a path) when given, else downloaded from PyPI with pip into a temporary folder. Each
    file is written to a temporary name, then renamed. Raises EmbeddingError naming the wheel when
    it cannot be downloaded or is not the one of WHEEL_SHA256."""
    from model import write_atomic

    folder = Path(NETWORK_DIR if folder is None else folder)
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            log(f"downloading {REQUIREMENT}'s wheel from PyPI (17 MB) for Google's speech embedding")
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                                   "--only-binary", ":all:", REQUIREMENT, "-d", tmp],
                                  capture_output=True, text=True)
            wheel = Path(tmp) / WHEEL_NAME
            if done.returncode != 0 or not wheel.is_file():
                last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise EmbeddingError(f"{REQUIREMENT}: cannot download its wheel from PyPI ({last}); "
                                     "download it by hand and pass --wheel")
        contents = wheel_members(wheel, REQUIREMENT, WHEEL_SHA256, list(MEMBERS.values()))
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in zip(MEMBERS, contents):
            write_atomic(folder / name, lambda tmp_path, data=data: Path(tmp_path).write_bytes(data))
    _network_digests.cache_clear()
    _sessions.cache_clear()
    log(f"wrote {', '.join(MEMBERS)} into {folder}")
    return folder


@functools.lru_cache(maxsize=None)
def _sessions(folder):
    """(front end, network): onnxruntime sessions of the two networks in ``folder``, one thread each
    (the same numbers on every machine's thread count, and no contention with create_features.py's
    worker processes). Raises EmbeddingError when a network is missing or cannot be read."""
    import onnxruntime as ort

    _network_digests(folder)  # missing files are named first
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    sessions = []
    for name in (MEL_FILE, NETWORK_FILE):
        path = Path(folder) / name
        try:
            sessions.append(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))
        except Exception as err:  # onnxruntime raises its own types for a damaged file; all mean the same
            raise EmbeddingError(f"{path}: cannot be read ({err.__class__.__name__}); " + _fix(folder)) from None
    return tuple(sessions)


class Embedder:
    """The speech embedding's two networks, loaded once from ``folder`` (None: NETWORK_DIR);
    ``embed(y)`` gives a clip's N_EMBEDDING numbers. Raises EmbeddingError when they are missing."""

    def __init__(self, folder=None):
        self.folder = str(Path(NETWORK_DIR if folder is None else folder))
        self.mel, self.network = _sessions(self.folder)

    def windows(self, y, *, power=None):
        """(n_windows, EMBEDDING_SIZE) float32: the embedding of every window of y (n_samples,),
        mono SAMPLE_RATE audio, trimmed as audio.features trims it (``power``: audio.frame_power(y),
        if known) and brought to TARGET_DBFS."""
        y = audio.trim_silence(np.asarray(y, dtype=np.float32), power=power).astype(np.float64)
        rms = np.sqrt(np.mean(y ** 2)) if len(y) else 0.0
        y = y * (10.0 ** (TARGET_DBFS / 20.0) / max(rms, 1e-9))
        y = np.pad(y, (0, max(0, int(MIN_SECONDS * audio.SAMPLE_RATE) - len(y))))
        samples = np.round(np.clip(y * 32768.0, -32768, 32767)).astype(np.float32)[None]
        bands = self.mel.run(None, {self.mel.get_inputs()[0].name: samples})[0]
        bands = bands.reshape(-1, MEL_BANDS) / 10.0 + 2.0  # (n_frames, MEL_BANDS), scaled as openWakeWord does
        starts = np.arange(0, len(bands) - WINDOW_FRAMES + 1, STEP_FRAMES)
        name = self.network.get_inputs()[0].name
        out = []
        for first in range(0, len(starts), WINDOW_BATCH):  # bounded memory for a long file
            batch = np.stack([bands[s:s + WINDOW_FRAMES] for s in starts[first:first + WINDOW_BATCH]])
            out.append(self.network.run(None, {name: batch[..., None].astype(np.float32)})[0]
                       .reshape(len(batch), EMBEDDING_SIZE))
        return np.concatenate(out)

    def embed(self, y, *, power=None):
        """(N_EMBEDDING,) float32: the mean, standard deviation and maximum of ``windows(y)``."""
        w = self.windows(y, power=power)
        return np.concatenate([w.mean(axis=0), w.std(axis=0), w.max(axis=0)]).astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=NETWORK_DIR, help="folder the networks go into")
    parser.add_argument("--wheel", type=Path, help=f"{WHEEL_NAME} already downloaded (default: from PyPI)")
    parser.add_argument("--clip", type=Path, help="embed this audio file instead, and time it")
    args = parser.parse_args(argv)
    try:
        if args.clip is None:
            fetch(args.dir, wheel=args.wheel)
            return 0
        embedder = Embedder(args.dir)
        y = audio.load_audio(args.clip)
        audio.check_clip(y, args.clip)
        start = time.perf_counter()
        x = embedder.embed(y)  # the first call also starts the networks' sessions
        first = time.perf_counter() - start
        times = []
        for _ in range(TIMED_CALLS):
            start = time.perf_counter()
            embedder.embed(y)
            times.append(time.perf_counter() - start)
        print(f"{args.clip}: {len(embedder.windows(y))} windows, {len(x)} numbers (mean {x.mean():.3f}), "
              f"{1000 * float(np.median(times)):.1f} ms warm (median of {TIMED_CALLS}; the first call "
              f"{1000 * first:.1f} ms)")
    except (EmbeddingError, audio.AudioError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
