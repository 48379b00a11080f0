"""Benchmark: warm prediction of one 3 s clip in process (features + model), the seed's against ours.

    python benchmarks/predict_warm.py              # 200 rounds, alternating; prints a table
    python benchmarks/predict_warm.py --rounds 500
    python benchmarks/predict_warm.py --test-time-noise 20   # also a cnn model with test-time noise

The audio is already in memory; each timed call turns it into probabilities. Seed: librosa MFCCs
(40, at 22050 Hz, averaged) + Keras ``model.predict`` of the seed-architecture model. Ours:
``Predictor.predict_waveform`` of the shipped model (its NumPy copy), and, when that is not a plain
``cnn`` model, the same for a model of the ``cnn`` architecture predicting each clip alone,
exported to a temporary folder (the same cost as a trained one). Medians over the rounds.
"""

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as live_predictions.py runs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, cnn_predictor, main_wrapper, median, our_predictors, row, seed_model_path  # noqa: E402

# Rounds of each method (alternating); the median is reported.
ROUNDS = 200
# The clip, and the seconds of it predicted (its first 3 s).
CLIP = REPO / "examples" / "03-01-05-02-01-01-13.wav"
SECONDS = 3.0
# Target (issue 5): our median, features + model, at most this many milliseconds.
TARGET_MS = 3.0


def run(args, log=print):
    import audio
    import keras
    import librosa
    import numpy as np

    seed_model = keras.models.load_model(seed_model_path())
    y22, sr22 = librosa.load(args.clip, duration=args.seconds)
    y16 = audio.load_audio(args.clip)[:int(args.seconds * audio.SAMPLE_RATE)]

    def seed():
        mfccs = np.mean(librosa.feature.mfcc(y=y22, sr=sr22, n_mfcc=40).T, axis=0)
        return seed_model.predict(mfccs[None, :, None], verbose=0)[0]

    with tempfile.TemporaryDirectory() as tmp:
        fns = {"seed": seed}
        for _, label, predictor in our_predictors(args.model_dir, tmp):
            fns[label] = functools.partial(predictor.predict_waveform, y16)
        if args.test_time_noise is not None:
            noisy = cnn_predictor(Path(tmp) / "noisy", args.test_time_noise)
            fns[f"ours (cnn, test-time noise {args.test_time_noise:g} dB)"] = functools.partial(noisy.predict_waveform, y16)
        times = {k: [] for k in fns}
        for fn in fns.values():  # warm up
            fn()
        log(f"warm prediction of {args.clip} ({len(y16) / audio.SAMPLE_RATE:.1f} s), {args.rounds} rounds")
        for _ in range(args.rounds):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - t) * 1e3)
    med = {k: median(v) for k, v in times.items()}
    log("  medians: " + ", ".join(f"{k} {v:.2f} ms" for k, v in med.items()))
    return [row("warm prediction, 1 clip in process", f"median latency, {k}", med["seed"], v,
                unit=" ms", target=f"≤ {TARGET_MS:g} ms")
            for k, v in med.items() if k != "seed"]


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=ROUNDS, help="timed calls of each method")
    p.add_argument("--clip", type=Path, default=CLIP, help="audio file to predict")
    p.add_argument("--seconds", type=float, default=SECONDS, help="seconds of it to predict")
    p.add_argument("--model-dir", type=Path, default=REPO / "model", help="our model folder")
    p.add_argument("--test-time-noise", type=float, default=None, metavar="DB",
                   help="also time a cnn model that averages each clip with a copy at this SNR")
    return p


if __name__ == "__main__":
    sys.exit(main_wrapper(run, None, parser()))
