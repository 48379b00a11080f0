"""Benchmark: featurize the whole corpus, the seed's method against ours, whole processes.

    python benchmarks/featurize.py                 # 3 runs of each, alternating; prints a table
    python benchmarks/featurize.py --runs 5 --dataset ../shared/datasets

Seed: benchmarks/seed_method/create_features.py (one process, librosa 22050 Hz kaiser_fast, mean of
40 MFCCs). Ours: create_features.py --augment 0 --no-robustness --no-embedding (log-mel frames,
each clip's prosody and functionals, all cores; the training copies, robustness conditions and
speech embeddings, which the seed never made, are left out: the embedding adds about 20 ms a clip
and condition, see embedding.py --clip). Both write their features to a
temporary folder. Wall time and peak memory from /usr/bin/time -v; medians of the runs.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATASETS, REPO, SEED_DIR, alternate, corpus_files, main_wrapper, median, row, timed_run  # noqa: E402

# Runs of each method (alternating seed, ours); the median is reported.
RUNS = 3
# Featurizing ours must be at least this many times faster than the seed's (issue 5).
TARGET_RATIO = 10


def run(args, log=print):
    n = len(corpus_files(args.dataset))
    with tempfile.TemporaryDirectory() as tmp:
        seed_cmd = [sys.executable, SEED_DIR / "create_features.py", "--dataset", args.dataset,
                    "--out", Path(tmp) / "seed"]
        ours_cmd = [sys.executable, REPO / "create_features.py", "--dataset", args.dataset,
                    "--out", Path(tmp) / "ours.joblib", "--augment", "0", "--no-robustness",
                    "--no-embedding"]
        log(f"featurize {n} files from {args.dataset}, {args.runs} runs each")
        seed, ours = alternate(args.runs, lambda: timed_run(seed_cmd)[:2], lambda: timed_run(ours_cmd)[:2], log=log)
    s_wall, o_wall = median([w for w, _ in seed]), median([w for w, _ in ours])
    s_mem, o_mem = median([m for _, m in seed]), median([m for _, m in ours])
    return [row(f"featurize corpus ({n} files)", "wall time", s_wall, o_wall, unit=" s",
                target=f"≥ {TARGET_RATIO}× faster"),
            row(f"featurize corpus ({n} files)", "files per second", n / s_wall, n / o_wall,
                higher_is_better=True),
            row(f"featurize corpus ({n} files)", "peak memory (largest process)", s_mem, o_mem,
                unit=" MB")]


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=RUNS, help="runs of each method")
    p.add_argument("--dataset", type=Path, default=DATASETS, help="folder with the corpora")
    return p


if __name__ == "__main__":
    sys.exit(main_wrapper(run, None, parser()))
