"""Benchmark: predict a folder of 1000 corpus clips, whole process, the seed's path against ours.

    python benchmarks/batch.py                     # 3 runs of each, alternating; prints a table
    python benchmarks/batch.py --clips 1000 --runs 5

The folder holds links to every 4th corpus file (RAVDESS and TESS, 1.5 to 5 s each). Seed:
benchmarks/seed_method/live_predictions.py FOLDER (model loaded once, then librosa.load, mean
MFCCs and model.predict file after file). Ours: live_predictions.py --json FOLDER. Clips per
second = clips / whole-process wall time (start-up and model loading included); medians.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (DATASETS, REPO, SEED_DIR, BenchError, alternate, corpus_files, main_wrapper,  # noqa: E402
                    median, row, seed_model_path, timed_run)

# Runs of each method (alternating seed, ours); the median is reported.
RUNS = 3
# Clips in the folder.
CLIPS = 1000
# Target (issue 5): at least this many clips per second.
TARGET_CLIPS_PER_S = 200


def make_folder(folder, dataset, n):
    """Links to n corpus files spread over the corpora (every k-th file). Returns their count."""
    files = corpus_files(dataset)
    step = max(1, len(files) // n)
    picked = files[::step][:n]
    for i, f in enumerate(picked):
        (Path(folder) / f"{i:05d}_{Path(f).name}").symlink_to(Path(f).resolve())
    return len(picked)


def run(args, log=print):
    seed_model_path()  # the seed's path needs its model
    with tempfile.TemporaryDirectory() as tmp:
        n = make_folder(tmp, args.dataset, args.clips)
        seed_cmd = [sys.executable, SEED_DIR / "live_predictions.py", tmp]
        ours_cmd = [sys.executable, REPO / "live_predictions.py", "--model-dir", args.model_dir, "--json", tmp]
        log(f"batch prediction of {n} clips, {args.runs} runs each")

        def ours():
            wall, mem, out = timed_run(ours_cmd)
            if len(out.splitlines()) != n:
                raise BenchError(f"ours printed {len(out.splitlines())} predictions for {n} clips")
            return wall, mem
        seed, ours = alternate(args.runs, lambda: timed_run(seed_cmd)[:2], ours, log=log)
    s, o = median([w for w, _ in seed]), median([w for w, _ in ours])
    return [row(f"batch, folder of {n} clips", "clips per second", n / s, n / o,
                higher_is_better=True, target=f"≥ {TARGET_CLIPS_PER_S}"),
            row(f"batch, folder of {n} clips", "peak memory", median([m for _, m in seed]),
                median([m for _, m in ours]), unit=" MB")]


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=RUNS, help="runs of each method")
    p.add_argument("--clips", type=int, default=CLIPS, help="clips in the folder")
    p.add_argument("--dataset", type=Path, default=DATASETS, help="folder with the corpora")
    p.add_argument("--model-dir", type=Path, default=REPO / "model", help="our model folder")
    return p


if __name__ == "__main__":
    sys.exit(main_wrapper(run, None, parser()))
