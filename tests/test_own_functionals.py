"""experiments/own_functionals.py: functionals of our own front end blended into a run, on real files."""

import sys

import joblib
import pytest

import audio
from conftest import REPO, blended_probabilities, run_script

sys.path.insert(0, str(REPO / "experiments"))
import own_functionals  # noqa: E402


def test_the_blocks_split_the_functionals():
    n = len(own_functionals.FUNCTIONALS)
    masks = {b: own_functionals.block_columns([b]) for b in own_functionals.BLOCKS}
    assert sum(m.astype(int) for m in masks.values()).tolist() == [1] * ((163 + 4 + 1) * n + audio.N_PROSODY)
    assert masks["mfcc"].sum() == 14 * n and masks["prosody"][-audio.N_PROSODY:].all()
    # Functional by functional: the first 163 columns are the frame descriptors' means, MFCCs first.
    assert masks["mfcc"][:14].all() and masks["delta"][14:28].all() and masks["spectral"][156:163].all()


@pytest.mark.experiment_run
def test_the_script_blends_a_run_from_the_features_files_functionals(small_features, small_dataset, blend_run, tmp_path):
    data, run_csv, out_csv, args = blend_run
    # The functionals are the features file's: the corpora's folder is not read (one that does not
    # exist will do).
    first = run_script("experiments/own_functionals.py", *args[:3], tmp_path / "no corpora", *args[4:])
    assert first.returncode == 0, first.stderr
    assert "making the classifier's probabilities" in first.stdout
    kept = joblib.load(small_features.parent / own_functionals.PARTNER_NAME)
    assert kept["paths"] == list(data["path"]) and kept["functionals"] == audio.functionals_params()
    assert kept["features"]["probabilities"].shape == (len(data["path"]), 8)
    lines = first.stdout.splitlines()
    assert any(line.startswith("own functionals' classifier alone (2036 functionals): overall ") for line in lines)
    # The subset's folds: actors 1, 2 (fold 0), 5, 6 (fold 1) and both TESS voices (6, 7).
    assert [line.split(":")[0].strip() for line in lines if line.startswith("  fold ")] == \
        ["fold 0", "fold 1", "fold 6", "fold 7"]
    weights = next(line for line in lines if line.startswith(f"{run_csv}: w per fold: "))
    blended_probabilities(out_csv, data)

    chosen = next(line for line in lines if line.startswith("each fold's C: "))

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
