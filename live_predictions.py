"""Predict the emotion in one or more audio files, with the probability of every emotion.

    python live_predictions.py                               # the bundled example named by AUDIO_FILE
    python live_predictions.py my_clip.wav other.flac        # files
    python live_predictions.py examples/ --json              # folders too; one JSON object per line
    python live_predictions.py --clip-alone my_clip.wav      # each clip by itself: faster, less accurate

The model in model/ is loaded once for the whole batch. A file that cannot be predicted gets one
line naming it and the problem; the others are still predicted, and the exit status is 1. A file
with no speech in it (silence, noise, hum, tones: vad.py decides) gets ``<file>: no speech`` and no
emotion (in JSON: ``"emotion": null, "speech": false``).
"""

import argparse
import json
import os
import sys
from pathlib import Path

# One BLAS thread, set before NumPy loads: this process's matrix products are small, and splitting
# them over cores that other work keeps busy makes them several times slower, not faster.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import audio
import devices
import model as model_lib
import vad
from corpus import AUDIO_EXTENSIONS

# The clip predicted when no path is given: edit it, or pass paths on the command line.
AUDIO_FILE = Path("examples") / "03-01-05-02-01-01-13.wav"
# The model folder written by neural_network.py.
MODEL_DIR = Path("model")
# Predict each clip by itself (True), without the test-time noisy copy the shipped model averages
# in: about 30 % less time per clip, and less accurate on unseen voices (model.Predictor.clip_alone).
CLIP_ALONE = False
# Clips featurized before each call to the model (bounds memory on big folders).
CHUNK = 256
# Threads reading and featurizing the files of a chunk (file reading and the FFT release the GIL).
FEATURIZE_THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def expand(paths):
    """Files to predict, in order: files as given, folders as their sorted audio files.

    Returns (files, ignored) where ignored lists the non-audio files found inside folders.
    """
    files, ignored = [], []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    (files if f.suffix.lower() in AUDIO_EXTENSIONS else ignored).append(f)
        else:
            files.append(p)
    return files, ignored


def format_text(path, probs):
    """Two or more lines: the verdict, then every emotion with its probability, most likely first."""
    top, p = next(iter(probs.items()))
    lines = [f"{path}: {top} ({p:.2f})"]
    for emotion, q in probs.items():
        lines.append(f"  {emotion:<10} {q:6.3f}  {'#' * round(q * 40)}")
    return "\n".join(lines)


# --- Live audio (issue 4): speech or no speech, the same decision as streaming.py -----------------

def load_speech(path):
    """A file's mono SAMPLE_RATE audio, or None when vad.py hears no speech in it (silence included).

    Raises audio.AudioError for unreadable files and clips too short to judge.
    """
    y = audio.load_audio(path)
    if len(y) >= audio.MIN_SECONDS * audio.SAMPLE_RATE and not vad.is_speech(y):
        return None
    audio.check_clip(y, path)
    return y

# -------------------------------------------------------------------------------------------------


def predict_paths(predictor, files, on_result):
    """Predict many files, calling on_result(path, probs dict or None, error or None) in order.

    Both None means the file holds no speech.
    """
    for start in range(0, len(files), CHUNK):
        chunk = files[start:start + CHUNK]
        feats, errors, no_speech = featurize_chunk(chunk, views=predictor.clip_inputs)
        probs = dict(zip(feats, predictor.predict_inputs(list(feats.values())))) if feats else {}
        for f in chunk:
            if f in probs:
                on_result(f, predictor.as_dict(probs[f]), None)
            elif f in no_speech:
                on_result(f, None, None)
            else:
                on_result(f, None, errors[f])


def _file_features(path, views=model_lib.clip_views):
    """(features, None) for speech, (None, None) for no speech, (None, error) for a bad file.

    views: mono audio -> what the model predicts it from (model.clip_views: a list of features, or
    Predictor.clip_inputs: those and the clip's prosody).
    """
    try:
        y = load_speech(path)
    except audio.AudioError as err:
        return None, str(err)
    return (None, None) if y is None else (views(y), None)


def featurize_chunk(files, threads=None, views=model_lib.clip_views):
    """Features of many files, in threads when there are several (``views`` as _file_features).

    Returns ({path: feats}, {path: error}, {paths with no speech}).
    """
    threads = FEATURIZE_THREADS if threads is None else threads
    if threads > 1 and len(files) > 2:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda f: _file_features(f, views), files))
    else:
        results = [_file_features(f, views) for f in files]
    feats = {f: x for f, (x, e) in zip(files, results) if x is not None}
    errors = {f: e for f, (x, e) in zip(files, results) if e is not None}
    no_speech = {f for f, (x, e) in zip(files, results) if x is None and e is None}
    return feats, errors, no_speech


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help=f"audio files or folders (default {AUDIO_FILE})")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model folder")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--clip-alone", action="store_true", default=CLIP_ALONE,
                        help="predict each clip by itself, without the model's test-time noisy copy (faster, less accurate)")
    args = parser.parse_args(argv)

    files, ignored = expand(args.paths or [AUDIO_FILE])
    if ignored:
        print(f"ignored {len(ignored)} non-audio file(s): {', '.join(map(str, ignored[:5]))}"
              f"{' ...' if len(ignored) > 5 else ''}", file=sys.stderr)
    if not files:
        print(f"error: no audio files in {', '.join(map(str, args.paths))}", file=sys.stderr)
        return 1
    try:
        predictor = model_lib.load(args.model_dir)
    except model_lib.ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.clip_alone:
        predictor.clip_alone()

    failed = []

    def show(path, probs, error):
        if error is not None:
            failed.append(path)
            if args.json:
                print(json.dumps({"file": str(path), "error": error}), flush=True)
            print(f"error: {error}", file=sys.stderr, flush=True)
        elif probs is None:
            print(json.dumps({"file": str(path), "emotion": None, "speech": False}) if args.json
                  else f"{path}: no speech", flush=True)
        elif args.json:
            top = next(iter(probs))
            print(json.dumps({"file": str(path), "emotion": top, "speech": True, "probabilities": probs}),
                  flush=True)
        else:
            print(format_text(path, probs), flush=True)

    predict_paths(predictor, files, show)
    if failed:
        print(f"{len(failed)} of {len(files)} file(s) could not be predicted: "
              f"{', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    devices.run_main(main)
