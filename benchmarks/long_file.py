"""Benchmark: predict one long file (10 minutes of speech), whole process, the seed's path against ours.

    python benchmarks/long_file.py                   # 2 runs of each, alternating; prints a table
    python benchmarks/long_file.py --minutes 30 --runs 1

The file is the bundled example (examples/03-01-05-02-01-01-13.wav) repeated to MINUTES minutes,
written as a 16 kHz WAV into a temporary folder. Seed: benchmarks/seed_method/live_predictions.py
FILE (librosa.load, mean MFCCs, model.predict). Ours: live_predictions.py --json FILE, which
predicts the whole file as one clip: every 3 s window of every test-time view, the functionals
and the speech embedding's windows (embedding.WINDOW_BATCH at a time). Wall time and peak memory
of the whole process (start-up and model loading included); medians.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SEED_DIR, BenchError, alternate, main_wrapper, median, row, seed_model_path, timed_run  # noqa: E402

# Runs of each method (alternating seed, ours); the median is reported.
RUNS = 2
# Length of the file, in minutes.
MINUTES = 10.0
# The clip repeated to make it.
EXAMPLE = REPO / "examples" / "03-01-05-02-01-01-13.wav"


def write_long_file(path, minutes, example=EXAMPLE):
    """Write ``example`` repeated to ``minutes`` minutes at audio.SAMPLE_RATE into ``path``; returns
    its length in seconds."""
    import numpy as np
    import soundfile as sf

    import audio

    y = audio.load_audio(example)
    n = int(round(minutes * 60 * audio.SAMPLE_RATE))
    if n < len(y):
        raise BenchError(f"--minutes {minutes}: shorter than the example itself; give at least "
                         f"{len(y) / audio.SAMPLE_RATE / 60:.2f}")
    sf.write(path, np.tile(y, n // len(y) + 1)[:n], audio.SAMPLE_RATE)
    return n / audio.SAMPLE_RATE


def run(args, log=print):
    seed_model_path()  # the seed's path needs its model
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        seconds = write_long_file(path, args.minutes)
        seed_cmd = [sys.executable, SEED_DIR / "live_predictions.py", path]
        ours_cmd = [sys.executable, REPO / "live_predictions.py", "--model-dir", args.model_dir, "--json", path]
        what = f"one file of {seconds / 60:g} minutes"
        log(f"{what}, {args.runs} runs each")

        def ours():
            wall, mem, out = timed_run(ours_cmd)
            records = [json.loads(line) for line in out.splitlines()]
            if len(records) != 1 or not records[0].get("probabilities"):
                raise BenchError(f"ours printed {out.strip()[:200]!r}, not one prediction")
            return wall, mem
        seed, ours = alternate(args.runs, lambda: timed_run(seed_cmd)[:2], ours, log=log)
    return [row(what, "wall time", median([w for w, _ in seed]), median([w for w, _ in ours]), unit=" s"),
            row(what, "peak memory", median([m for _, m in seed]), median([m for _, m in ours]), unit=" MB")]


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=RUNS, help="runs of each method")
    p.add_argument("--minutes", type=float, default=MINUTES, help="length of the file in minutes")
    p.add_argument("--model-dir", type=Path, default=REPO / "model", help="our model folder")
    return p


if __name__ == "__main__":
    sys.exit(main_wrapper(run, None, parser()))
