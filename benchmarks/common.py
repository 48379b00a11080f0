"""Shared helpers of the benchmarks: whole-process timing under /usr/bin/time -v, medians, tables.

Not run by itself; see the README's "Speed" section and benchmarks/run_all.py.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
SEED_DIR = BENCH / "seed_method"
# The real corpora, beside the checkout (as the tests find them).
DATASETS = REPO.parent / "shared" / "datasets"
# GNU time, for wall time and peak memory of a whole process (Debian package `time`).
GNU_TIME = "/usr/bin/time"

for _p in (str(REPO), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


class BenchError(RuntimeError):
    """A benchmark that cannot run; the message says why and what to do."""


def seed_model_path():
    """The seed-architecture model the seed's method predicts with; BenchError if it is missing."""
    path = SEED_DIR / "seed_model.keras"
    if not path.is_file():
        raise BenchError(f"{path}: missing; make it with `python benchmarks/seed_method/make_seed_model.py "
                         "--dataset ../shared/datasets`")
    return path


def cnn_predictor(folder, test_time_noise_db=None):
    """A Predictor of the cnn architecture, untrained (the same cost as a trained one), saved to
    ``folder`` and loaded the usual way (NumPy copy); with ``test_time_noise_db``, it averages every
    clip with its noisy copy (model.clip_views)."""
    import model as model_lib

    model_lib.save(model_lib.build("cnn"), folder, arch="cnn", test_time_noise_db=test_time_noise_db)
    return model_lib.load(folder)


def our_predictors(model_dir, tmp):
    """Our models to time, as [(key, label, Predictor)]: "ours", the shipped model in ``model_dir``
    (its NumPy copy), labelled by its architecture, test-time noise, warps, blend and last voices; and "cnn", a
    cnn_predictor in ``tmp`` that predicts each clip alone (what neural_network.py ships without
    test-time views), unless the shipped model is just that. BenchError when the shipped model has
    no NumPy copy."""
    import model as model_lib

    ours = model_lib.load(model_dir)
    if ours.backend != "numpy":
        raise BenchError(f"{model_dir}: has no fresh NumPy copy; run `python numpy_model.py`")
    noise = "" if ours.noise_db is None else f", test-time noise {model_lib.noise_key(ours.noise_db)} dB"
    noise += "" if not ours.warps else f", warps {model_lib.warps_key(ours.warps)}"
    noise += "" if ours.blended is None else f", {ours.blended.arch} blended in at {ours.blend_weight:g}"
    noise += "" if ours.third_voice is None else f", third voice at {ours.third_weight:g}"
    noise += "" if ours.fourth_voice is None else f", fourth voice at {ours.fourth_weight:g}"
    out = [("ours", f"ours ({ours.arch}{noise})", ours)]
    if (ours.arch, ours.noise_db, ours.warps, ours.blended, ours.third_voice, ours.fourth_voice) != (
            "cnn", None, (), None, None, None):
        out.append(("cnn", "ours (cnn, each clip alone)", cnn_predictor(tmp)))
    return out


def corpus_files(dataset=DATASETS):
    """Every corpus file, in corpus.scan order. Raises BenchError when the corpora are missing."""
    import corpus

    if not Path(dataset).is_dir():
        raise BenchError(f"{dataset}: corpora not found; pass --dataset or see download_data.py")
    utterances, _ = corpus.scan(dataset)
    return [u.path for u in utterances]


def timed_run(cmd, cwd=REPO, env=None):
    """Run cmd under /usr/bin/time -v. Returns (wall seconds, peak RSS in MB, stdout).

    Peak RSS is GNU time's "Maximum resident set size": the largest single process of the run.
    """
    if not Path(GNU_TIME).is_file():
        raise BenchError(f"{GNU_TIME}: not found; install the Debian package `time` (setup.sh does)")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as log:
        proc = subprocess.run([GNU_TIME, "-v", "-o", log.name, *map(str, cmd)], cwd=cwd,
                              capture_output=True, text=True, env={**os.environ, **(env or {})})
        report = Path(log.name).read_text()
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): {tail}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    return seconds, rss_kb / 1024, proc.stdout


def alternate(runs, seed_fn, ours_fn, log=print):
    """Call seed_fn() and ours_fn() alternately ``runs`` times each. Returns (seed results, ours results)."""
    seed, ours = [], []
    for i in range(runs):
        for name, fn, out in (("seed", seed_fn, seed), ("ours", ours_fn, ours)):
            out.append(fn())
            log(f"  run {i + 1}/{runs} {name}: {out[-1]}")
    return seed, ours


def median(values):
    return statistics.median(values)


def fmt(x, unit=""):
    if x >= 100:
        s = f"{x:.0f}"
    elif x >= 10:
        s = f"{x:.1f}"
    elif x >= 1:
        s = f"{x:.2f}"
    else:
        s = f"{x:.3g}"
    return f"{s}{unit}"


def table(rows):
    """A Markdown table of rows (dicts with the same keys)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def row(benchmark, measure, seed, ours, *, unit="", higher_is_better=False, target=""):
    """One table row: the seed's and our median, and how many times better ours is."""
    if seed != seed:  # NaN: the seed's method was not run
        return {"benchmark": benchmark, "measure": measure, "seed": "-", "ours": fmt(ours, unit),
                "ours vs seed": "", "target": target}
    ratio = seed / ours if not higher_is_better else ours / seed
    return {"benchmark": benchmark, "measure": measure, "seed": fmt(seed, unit),
            "ours": fmt(ours, unit), "ours vs seed": f"{ratio:.1f}× better" if ratio >= 1
            else f"{1 / ratio:.1f}× worse", "target": target}


def machine():
    """One line describing where the figures were taken."""
    import platform

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {cores} cores, Python "
            f"{platform.python_version()}, load average {load:.1f} at start")


def main_wrapper(run, argv, parser):
    """Parse, run, print the table; a BenchError is one line on stderr and exit status 1."""
    args = parser.parse_args(argv)
    try:
        rows = run(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(table(rows))
    return 0
