"""Featurize the dataset folder into joblib_features/: log-mel frames, labels, speakers, corpora.

    python create_features.py                                  # RAVDESS+TESS_Dataset/ -> joblib_features/features.joblib
    python create_features.py --dataset ../shared/datasets     # any folder with the corpora's layout
    python create_features.py --scheduler tcp://host:8786      # the per-file work on a Dask cluster

Every audio file is read through the one front end (audio.py); its parameters are saved in the
features file, so training refuses features made with other settings. The file is written to a
temporary name and renamed, so a crash never leaves half a features file. Files that cannot be
used are skipped, counted, and listed with their reason.

A corpus that outgrows one machine is featurized on a Dask cluster (``dask.distributed``) through
joblib's dask backend: start a scheduler and workers (``dask scheduler``, ``dask worker ADDRESS``)
with this project's requirements installed and the dataset at the same absolute path on every
worker (a shared file system), and pass ``--scheduler ADDRESS``. This project's modules are sent
to the workers.
The features are the same as a local run's, in the same order.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import audio
import corpus
from model import write_atomic

# Folder holding the corpora (see download_data.py); any depth, RAVDESS and TESS names.
DATASET_DIR = Path("RAVDESS+TESS_Dataset")
# Where the features go.
FEATURES_FILE = Path("joblib_features") / "features.joblib"
# Worker processes: every core this process may use.
N_JOBS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
# Files handed to a worker at a time (fewer round trips than one by one).
BATCH_SIZE = 32
# Dask scheduler address (e.g. tcp://10.0.0.5:8786); None featurizes on this machine.
SCHEDULER = None
# Seconds to wait for the Dask scheduler to answer before giving up.
SCHEDULER_TIMEOUT = 10

# Per-file metadata kept beside the features, one list entry per file.
META_FIELDS = ("path", "corpus", "speaker", "emotion", "vocal_channel", "intensity", "statement")


class FeaturesError(ValueError):
    """A features file that cannot be used; the message names it and says what to do."""


def featurize(path):
    """Features of one file, or the reason it cannot be used: ((n_frames, N_MELS) or None, str or None)."""
    try:
        return audio.file_features(path), None
    except audio.AudioError as err:
        return None, str(err).split(": ", 1)[-1]


def featurize_all(paths, n_jobs=N_JOBS, progress=True):
    """Featurize many files in parallel (joblib). Returns a list of featurize() results, in order."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    if n_jobs == 1:
        results = map(featurize, paths)
    else:
        results = Parallel(n_jobs=n_jobs, batch_size=BATCH_SIZE, return_as="generator")(
            delayed(featurize)(p) for p in paths)
    return list(tqdm(results, total=len(paths), unit="file", disable=not progress,
                     desc="featurizing"))


def featurize_on_dask(paths, scheduler, progress=True, timeout=SCHEDULER_TIMEOUT):
    """featurize_all on a Dask cluster through joblib's dask backend. Returns results in order.

    Raises FeaturesError when the scheduler cannot be reached.
    """
    import joblib
    from distributed import Client

    paths = [os.path.abspath(p) for p in paths]  # the workers may run in another folder
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise FeaturesError(f"{scheduler}: cannot reach the Dask scheduler ({err.__class__.__name__}); "
                            "check the address and that `dask scheduler` is running") from None
    with client:
        for module in ("audio.py", "corpus.py", "model.py", "create_features.py"):  # the code featurize needs
            client.upload_file(str(Path(__file__).resolve().parent / module), load=False)
        if progress:
            n = len(client.nthreads())
            print(f"featurizing {len(paths)} files on {n} Dask worker(s) at {scheduler}", flush=True)
        with joblib.parallel_config(backend="dask"):
            return joblib.Parallel(batch_size=BATCH_SIZE)(
                joblib.delayed(featurize)(p) for p in paths)


def save_features(data, path):
    """Write a features dict with joblib to a temporary file, then rename it over ``path``."""
    import joblib

    write_atomic(path, lambda tmp: joblib.dump(data, tmp))


def load_features(path=FEATURES_FILE):
    """Read a features file written by this script and check it against the front end.

    Returns a dict with ``features`` (list of (n_frames, N_MELS) float32), ``labels`` (n,) int,
    ``emotions`` (the label order), the META_FIELDS lists, ``skipped`` and ``frontend``.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FeaturesError(f"{path}: no features file; run `python create_features.py` first")
    try:
        data = joblib.load(path)
        frames, offsets = data["frames"], data["offsets"]
        features = [frames[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        n = len(features)
        if len(data["labels"]) != n or any(len(data[k]) != n for k in META_FIELDS):
            raise ValueError("lengths differ")
    except Exception as err:  # joblib/pickle raise many types for a damaged file; all mean the same
        raise FeaturesError(f"{path}: corrupted features file ({err.__class__.__name__}); "
                            "re-run `python create_features.py`") from None
    if data.get("frontend") != audio.frontend_params():
        raise FeaturesError(f"{path}: made with other front-end parameters than audio.py's; "
                            "re-run `python create_features.py`")
    data["features"] = features
    return data


def build_features(dataset, n_jobs=N_JOBS, progress=True, scheduler=SCHEDULER,
                   scheduler_timeout=SCHEDULER_TIMEOUT):
    """Scan ``dataset``, featurize every corpus file (on Dask at ``scheduler`` if given).

    Returns the features dict; its ``skipped`` lists the files that could not be used.
    """
    utterances, skipped = corpus.scan(dataset)
    paths = [u.path for u in utterances]
    if scheduler:
        results = featurize_on_dask(paths, scheduler, progress=progress, timeout=scheduler_timeout)
    else:
        results = featurize_all(paths, n_jobs=n_jobs, progress=progress)
    kept = []
    for u, (feats, reason) in zip(utterances, results):
        if reason is None:
            kept.append((u, feats))
        else:
            skipped.append((u.relpath, reason))
    lengths = [len(f) for _, f in kept]
    data = {
        "frames": np.concatenate([f for _, f in kept]) if kept else np.zeros((0, audio.N_MELS), np.float32),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "labels": np.array([u.label for u, _ in kept], dtype=np.int64),
        "emotions": list(corpus.EMOTIONS),
        "frontend": audio.frontend_params(),
        "skipped": sorted(skipped),
        "dataset": str(dataset),
    }
    for field in META_FIELDS:
        data[field] = [u.relpath if field == "path" else getattr(u, field) for u, _ in kept]
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="folder with the corpora")
    parser.add_argument("--out", type=Path, default=FEATURES_FILE, help="features file to write")
    parser.add_argument("--jobs", type=int, default=N_JOBS, help="worker processes")
    parser.add_argument("--scheduler", default=SCHEDULER,
                        help="Dask scheduler address (tcp://host:port) to featurize on a cluster")
    parser.add_argument("--scheduler-timeout", type=float, default=SCHEDULER_TIMEOUT,
                        help="seconds to wait for the Dask scheduler")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        data = build_features(args.dataset, n_jobs=args.jobs, scheduler=args.scheduler,
                              scheduler_timeout=args.scheduler_timeout)
    except (corpus.CorpusError, FeaturesError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    n_kept, skipped = len(data["labels"]), data["skipped"]
    for relpath, reason in skipped:
        print(f"skipped {relpath}: {reason}")
    if n_kept == 0:
        print(f"error: {args.dataset}: no usable corpus file found; run `python download_data.py`",
              file=sys.stderr)
        return 1
    save_features(data, args.out)
    per_corpus = {c: data["corpus"].count(c) for c in sorted(set(data["corpus"]))}
    print(f"read {n_kept + len(skipped)} files: featurized {n_kept} "
          f"({', '.join(f'{c} {n}' for c, n in per_corpus.items())}), skipped {len(skipped)}; "
          f"wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
