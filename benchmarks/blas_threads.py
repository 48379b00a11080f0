"""Benchmark: the third voice's logistic regression fitted with NumPy's BLAS on one thread and on
every core, in one process, on real features.

    python benchmarks/blas_threads.py                      # 324 clips, 3 fits of each; prints a table
    python benchmarks/blas_threads.py --files 1000 --fits 5 --features joblib_features/features.joblib

The fit is neural_network.third_voice_classifier (scaling, then the logistic regression, with the
product's settings, THIRD_VOICE_LR) at the middle C of THIRD_VOICE_C_GRID, on the functionals of
every n-th clip of the features file (sorted, as stored) and their emotions. The same data is
fitted alternately under each limit (threadpoolctl), after one untimed fit; the median seconds of
a fit are reported. The product's training runs such fits by the hundred
(neural_network.choose_third_voice_c), on neural_network.LAST_VOICES_BLAS_THREADS threads (one,
for what this measures); the tests run all of BLAS on one thread (tests/conftest.py).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, BenchError, main_wrapper, median  # noqa: E402

# Clips fitted on: about the small test subset's count, every n-th file of the features file.
FILES = 324
# Fits under each thread limit (alternating); the median is reported.
FITS = 3


def fit_times(features, files=FILES, fits=FITS, log=print):
    """({limit: median seconds of one fit}, the threads BLAS starts with), limit 1 and None (every
    thread BLAS starts with). BenchError for a features file that cannot be used or bad counts."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import neural_network
    from create_features import FeaturesError, load_features

    if fits < 1:
        raise BenchError(f"--fits {fits}: give 1 or more")
    if files < 16:
        raise BenchError(f"--files {files}: fit at least 16 clips")
    try:
        data = load_features(features)
    except FeaturesError as err:
        raise BenchError(str(err)) from None
    if data.get("functionals") is None:
        raise BenchError(f"{features}: has no functionals; re-run `python create_features.py`")
    rows = np.linspace(0, len(data["labels"]) - 1, min(files, len(data["labels"]))).round().astype(int)
    x, labels = data["functionals"][rows], np.asarray(data["labels"])[rows]
    c = neural_network.THIRD_VOICE_C_GRID[len(neural_network.THIRD_VOICE_C_GRID) // 2]
    threads = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    log(f"{len(rows)} clips of {x.shape[1]} numbers, C {c}, {neural_network.THIRD_VOICE_LR}; "
        f"BLAS starts with {threads} thread(s) on {os.cpu_count()} core(s)")
    # Once untimed: the first fit in a process also loads and warms up what it calls (about a second).
    neural_network.third_voice_classifier(c).fit(x, labels)
    seconds = {1: [], None: []}
    for _ in range(fits):
        for limit in seconds:
            with threadpool_limits(limits=limit, user_api="blas"):
                start = time.perf_counter()
                neural_network.third_voice_classifier(c).fit(x, labels)
                seconds[limit].append(time.perf_counter() - start)
    return {limit: median(s) for limit, s in seconds.items()}, threads


def run(args, log=print):
    """The table's rows: seconds a fit on one BLAS thread and on every thread."""
    medians, threads = fit_times(args.features, args.files, args.fits, log=log)
    log(f"one thread is {medians[None] / medians[1]:.1f}x as fast")
    return [{"BLAS threads": "1", "seconds a fit (median)": f"{medians[1]:.3f}"},
            {"BLAS threads": f"{threads} (as started)", "seconds a fit (median)": f"{medians[None]:.3f}"}]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, default=REPO / "joblib_features" / "features.joblib",
                        help="features file made by create_features.py")
    parser.add_argument("--files", type=int, default=FILES, help=f"clips to fit on (default {FILES})")
    parser.add_argument("--fits", type=int, default=FITS, help=f"fits under each limit (default {FITS})")
    return main_wrapper(run, argv, parser)


if __name__ == "__main__":
    sys.exit(main())
