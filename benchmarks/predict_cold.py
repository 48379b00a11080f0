"""Benchmark: cold `live_predictions.py <one clip>`, whole process, the seed's path against ours.

    python benchmarks/predict_cold.py              # 7 runs of each, alternating; prints a table
    python benchmarks/predict_cold.py --runs 11 --clip examples/OAF_back_ps.wav

Seed: benchmarks/seed_method/live_predictions.py (import keras, keras.models.load_model,
librosa.load, mean MFCCs, model.predict). Ours: live_predictions.py with the shipped model/ (its
exported NumPy copy). Wall time and peak memory of the whole process from /usr/bin/time -v; medians.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SEED_DIR, alternate, main_wrapper, median, row, seed_model_path, timed_run  # noqa: E402

# Runs of each method (alternating seed, ours); the median is reported.
RUNS = 7
# The clip predicted: the README's example.
CLIP = REPO / "examples" / "03-01-05-02-01-01-13.wav"
# Targets (issue 5): at least this many times faster, at most this share of the seed's peak memory.
TARGET_RATIO = 5
TARGET_MEMORY_SHARE = 0.5


def run(args, log=print):
    seed_model_path()  # the seed's path needs its model
    seed_cmd = [sys.executable, SEED_DIR / "live_predictions.py", args.clip]
    ours_cmd = [sys.executable, REPO / "live_predictions.py", "--model-dir", args.model_dir, args.clip]
    log(f"cold prediction of {args.clip}, {args.runs} runs each")
    timed_run(ours_cmd)  # one untimed run of each: the file cache holds the libraries for both
    timed_run(seed_cmd)
    seed, ours = alternate(args.runs, lambda: timed_run(seed_cmd)[:2], lambda: timed_run(ours_cmd)[:2], log=log)
    return [row("cold live_predictions.py, 1 clip", "wall time", median([w for w, _ in seed]),
                median([w for w, _ in ours]), unit=" s", target=f"≥ {TARGET_RATIO}× faster"),
            row("cold live_predictions.py, 1 clip", "peak memory", median([m for _, m in seed]),
                median([m for _, m in ours]), unit=" MB", target=f"≤ {TARGET_MEMORY_SHARE:.0%} of seed")]


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=RUNS, help="runs of each method")
    p.add_argument("--clip", type=Path, default=CLIP, help="audio file to predict")
    p.add_argument("--model-dir", type=Path, default=REPO / "model", help="our model folder")
    return p


if __name__ == "__main__":
    sys.exit(main_wrapper(run, None, parser()))
