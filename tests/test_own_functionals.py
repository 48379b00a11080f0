"""experiments/own_functionals.py: functionals of our own front end blended into a run, on real files."""

import sys

import joblib
import numpy as np

import audio
from conftest import REPO, blended_probabilities, needs_data, real_file, run_script

sys.path.insert(0, str(REPO / "experiments"))
import own_functionals  # noqa: E402


def test_delta_and_rasta_on_known_columns():
    t = np.arange(50, dtype=float)
    x = np.stack([np.full(50, 7.0), 0.5 * t], axis=1)
    d = own_functionals.delta(x)
    assert np.allclose(d[:, 0], 0.0)
    assert np.allclose(d[2:-2, 1], 0.5)  # a ramp's slope, away from the repeated edges
    r = own_functionals.rasta(x)
    assert np.allclose(r[:, 0], 0.0)  # a constant level (a microphone's gain) gives nothing
    assert abs(r[-1, 1]) > 0.5  # a steady rise passes


@needs_data
def test_functionals_are_finite_and_blind_to_gain():
    y = audio.load_audio(real_file("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac"))
    f = own_functionals.functionals(y)
    n = len(own_functionals.FUNCTIONALS)
    assert f.shape == ((163 + 4 + 1) * n + audio.N_PROSODY,) and np.isfinite(f).all()
    assert f.std() > 0
    # The voiced-frame descriptors are there: the clip is voiced, so their block is not all zero.
    assert np.abs(f[163 * n:167 * n]).max() > 0
    quieter = own_functionals.functionals(y * 0.25)  # 12 dB down, far above the power floor
    assert np.mean(np.isclose(f, quieter, rtol=1e-3, atol=1e-3)) > 0.99
    # A clip too short to be voiced has zeros there, and still the right shape.
    short = own_functionals.functionals(y[:2000])
    assert short.shape == f.shape and np.isfinite(short).all()


def test_the_blocks_split_the_functionals():
    n = len(own_functionals.FUNCTIONALS)
    masks = {b: own_functionals.block_columns([b]) for b in own_functionals.BLOCKS}
    assert sum(m.astype(int) for m in masks.values()).tolist() == [1] * ((163 + 4 + 1) * n + audio.N_PROSODY)
    assert masks["mfcc"].sum() == 14 * n and masks["prosody"][-audio.N_PROSODY:].all()
    # Functional by functional: the first 163 columns are the frame descriptors' means, MFCCs first.
    assert masks["mfcc"][:14].all() and masks["delta"][14:28].all() and masks["spectral"][156:163].all()


def test_each_folds_penalty_is_chosen_without_its_own_rows():
    rng = np.random.default_rng(0)
    folds = np.repeat([0, 1, 2, 3], 40)
    labels = np.tile(np.arange(4), 40)
    x = rng.normal(size=(160, 12))
    x[:, :4] += 1.5 * np.eye(4)[labels]
    choosers = folds < 3  # fold 3 stands for a TESS voice: it never chooses
    logs = []
    own_functionals.choose_c(x, labels, folds, choosers, grid=(0.01, 1.0), log=logs.append)
    # Fold 0's rows replaced by noise with other labels: fold 0's own counts must not move.
    x2, labels2 = x.copy(), labels.copy()
    x2[folds == 0] = rng.normal(size=(40, 12))
    labels2[folds == 0] = 3
    logs2 = []
    own_functionals.choose_c(x2, labels2, folds, choosers, grid=(0.01, 1.0), log=logs2.append)
    fold0 = next(line for line in logs if line.startswith("  fold 0:"))
    assert fold0 == next(line for line in logs2 if line.startswith("  fold 0:"))
    # ... while a fold that chooses on fold 0's actors sees the change.
    assert next(line for line in logs if line.startswith("  fold 1:")) != \
        next(line for line in logs2 if line.startswith("  fold 1:"))
    assert len(logs) == 4  # every fold gets a C, the TESS one too


def test_the_script_blends_a_run_and_keeps_its_functionals(small_features, small_dataset, blend_run, tmp_path):
    data, run_csv, out_csv, args = blend_run
    first = run_script("experiments/own_functionals.py", *args)
    assert first.returncode == 0, first.stderr
    assert "making the own functionals" in first.stdout and "ms per clip on the mean" in first.stdout
    kept = joblib.load(small_features.parent / own_functionals.OWN_NAME)
    assert kept["paths"] == list(data["path"]) and kept["features"].shape == (len(data["path"]), 2036)
    lines = first.stdout.splitlines()
    assert any(line.startswith("own functionals' classifier alone (2036 functionals): overall ") for line in lines)
    # The subset's folds: actors 1, 2 (fold 0), 5, 6 (fold 1) and both TESS voices (6, 7).
    assert [line.split(":")[0].strip() for line in lines if line.startswith("  fold ")] == \
        ["fold 0", "fold 1", "fold 6", "fold 7"]
    weights = next(line for line in lines if line.startswith(f"{run_csv}: w per fold: "))
    blended_probabilities(out_csv, data)

    chosen = next(line for line in lines if line.startswith("each fold's C: "))
    assert (small_features.parent / own_functionals.PARTNER_NAME).is_file()

    # A block of descriptors alone, at the C the whole set chose; a block that is none is one line.
    block = run_script("experiments/own_functionals.py", *args[:-2], "--blocks", "voiced,prosody")
    assert block.returncode == 0, block.stderr
    assert "blocks voiced,prosody (68 functionals" in block.stdout and "making the" not in block.stdout
    bad = run_script("experiments/own_functionals.py", *args[:-2], "--blocks", "voiced,timbre")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "timbre" in bad.stderr
    # Beside a features file whose whole set has not been classified yet, blocks have no C to use.
    features = tmp_path / "fresh" / small_features.name
    features.parent.mkdir()
    features.symlink_to(small_features)
    early = run_script("experiments/own_functionals.py", "--features", features, "--dataset", small_dataset,
                       "--predictions", run_csv, "--blocks", "voiced")
    assert early.returncode == 1 and len(early.stderr.strip().splitlines()) == 1
    assert "run once without --blocks first" in early.stderr
    assert not (features.parent / own_functionals.PARTNER_NAME).exists()

    # Run again: the functionals and the classifier's probabilities are read back, not made again.
    again = run_script("experiments/own_functionals.py", *args)
    assert again.returncode == 0, again.stderr
    assert "making the" not in again.stdout and "  fold 0:" not in again.stdout
    assert chosen in again.stdout.splitlines()
    assert [line for line in again.stdout.splitlines() if "w per fold" in line] == [weights]
