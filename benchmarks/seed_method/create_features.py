"""The seed project's featurizing, as it did it: one process, librosa at 22050 Hz, mean of 40 MFCCs.

    python benchmarks/seed_method/create_features.py --dataset ../shared/datasets --out /tmp/seed_features

Kept only as the reference the benchmarks measure ours against (benchmarks/featurize.py). Faithful
to the seed's create_features.py: ``librosa.load(path, res_type="kaiser_fast")`` at librosa's
default 22050 Hz, ``np.mean(librosa.feature.mfcc(y, sr, n_mfcc=40).T, axis=0)`` per file, one
file after another, then X and y dumped with joblib. One difference: the file list and labels
come from corpus.py (the seed parsed renamed TESS files by position), which costs nothing here.
"""

import argparse
import sys
import time
from pathlib import Path

import joblib
import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import corpus  # noqa: E402

# Dataset folder and output folder (X.joblib, y.joblib), as in the seed.
DATASET_DIR = Path("RAVDESS+TESS_Dataset")
OUT_DIR = Path("joblib_features_seed")
# The seed's features: 40 MFCCs averaged over time.
N_MFCC = 40


def seed_features(path):
    """The seed's features of one file: (40,) float32."""
    X, sample_rate = librosa.load(str(path), res_type="kaiser_fast")
    return np.mean(librosa.feature.mfcc(y=X, sr=sample_rate, n_mfcc=N_MFCC).T, axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="folder with the corpora")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for X.joblib and y.joblib")
    parser.add_argument("--limit", type=int, default=None, help="featurize only the first N files")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    utterances, _ = corpus.scan(args.dataset)
    lst = []
    for u in utterances[:args.limit]:
        try:
            lst.append((seed_features(u.path), u.label))
        except ValueError as err:
            print(err)
            continue
    X, y = zip(*lst)
    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(np.asarray(X), args.out / "X.joblib")
    joblib.dump(np.asarray(y), args.out / "y.joblib")
    print(f"featurized {len(lst)} files the seed's way in {time.perf_counter() - start:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
