"""Predict the emotion in one or more audio files, with the probability of every emotion.

    python live_predictions.py                               # the bundled example named by AUDIO_FILE
    python live_predictions.py my_clip.wav other.flac        # files
    python live_predictions.py examples/ --json              # folders too; one JSON object per line

The model in model/ is loaded once for the whole batch. A file that cannot be predicted gets one
line naming it and the problem; the others are still predicted, and the exit status is 1. A file
with no speech in it (silence, noise, hum, tones: vad.py decides) gets ``<file>: no speech`` and no
emotion (in JSON: ``"emotion": null, "speech": false``).
"""

import argparse
import json
import sys
from pathlib import Path

import audio
import model as model_lib
import vad
from corpus import AUDIO_EXTENSIONS

# The clip predicted when no path is given: edit it, or pass paths on the command line.
AUDIO_FILE = Path("examples") / "03-01-05-02-01-01-13.wav"
# The model folder written by neural_network.py.
MODEL_DIR = Path("model")
# Clips featurized before each call to the model (bounds memory on big folders).
CHUNK = 256


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
        feats, errors, no_speech = {}, {}, set()
        for f in chunk:
            try:
                y = load_speech(f)
            except audio.AudioError as err:
                errors[f] = str(err)
                continue
            if y is None:
                no_speech.add(f)
            else:
                feats[f] = audio.features(y)
        probs = dict(zip(feats, predictor.predict_features(list(feats.values())))) if feats else {}
        for f in chunk:
            if f in probs:
                on_result(f, predictor.as_dict(probs[f]), None)
            elif f in no_speech:
                on_result(f, None, None)
            else:
                on_result(f, None, errors[f])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help=f"audio files or folders (default {AUDIO_FILE})")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model folder")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
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
    sys.exit(main())
