"""experiments/compare_partner.py: openSMILE's ComParE functionals blended into a run, on a small real subset."""

import sys

import numpy as np
import pytest

from conftest import REPO, blended_probabilities, made_up_run, refuses_a_short_run, run_script

sys.path.insert(0, str(REPO / "experiments"))
import compare_partner  # noqa: E402
from create_features import load_features  # noqa: E402
import corpus  # noqa: E402


def test_each_folds_weight_is_chosen_on_the_other_folds_actors_only():
    # Folds 0 and 1 hold 10 actors' files each, fold 2 a TESS voice's 20. The run is right on
    # fold 0's files and wrong on the others; the partner the other way round.
    k = len(corpus.EMOTIONS)
    folds = np.repeat([0, 1, 2], [10, 10, 20])
    labels = np.zeros(len(folds), int)
    run, partner = np.full((len(folds), k), 0.02), np.full((len(folds), k), 0.02)
    run[:, 0] = np.where(folds == 0, 0.86, 0.02)
    run[:, 1] = np.where(folds == 0, 0.02, 0.86)
    partner[:, 0] = np.where(folds == 0, 0.02, 0.6)  # less sure than the run: no w ties
    partner[:, 1] = np.where(folds == 0, 0.6, 0.02)
    partner /= partner.sum(axis=1, keepdims=True)
    choosers = folds != 2  # the actors choose
    chosen = compare_partner.choose_weights(run, partner, labels, folds, choosers)
    # Fold 0 is chosen for on fold 1's actors alone, where only the partner is right: w > 0.5
    # (with its own files as well, w = 0 would tie with it, and a tie keeps the smaller w).
    assert chosen[0] > 0.5
    # Fold 1 is chosen for on fold 0's actors, never on the TESS voice's files (which would
    # outvote them): it keeps the run alone.
    assert chosen[1] == 0.0
    assert chosen[2] in compare_partner.WEIGHTS
    # The blend (model.blend) is the run at w = 0 and the partner at w = 1, rows summing to 1 between.
    assert np.allclose(compare_partner.model_lib.blend(run, partner, 0.0), run / run.sum(1, keepdims=True), atol=1e-6)
    assert np.allclose(compare_partner.model_lib.blend(run, partner, 1.0), partner / partner.sum(1, keepdims=True), atol=1e-6)
    assert np.allclose(compare_partner.model_lib.blend(run, partner, 0.3).sum(1), 1.0)


def test_with_groups_each_corpus_counts_the_same_in_the_choice():
    # Fold 0: 30 actors' files, the run right on 28 of them, the partner on 2; fold 1: 10 files of
    # a TESS voice, only the partner right; fold 2: the fold chosen for.
    k = len(corpus.EMOTIONS)
    folds = np.repeat([0, 1, 2], [30, 10, 5])
    groups = np.where(folds == 1, "TESS", "RAVDESS")
    labels = np.zeros(len(folds), int)
    run_right = np.arange(len(folds)) < 28
    run, partner = np.full((len(folds), k), 0.02), np.full((len(folds), k), 0.02)
    run[:, 0], run[:, 1] = np.where(run_right, 0.86, 0.02), np.where(run_right, 0.02, 0.86)
    partner[:, 0], partner[:, 1] = np.where(run_right, 0.02, 0.6), np.where(run_right, 0.6, 0.02)
    everyone = np.ones(len(folds), dtype=bool)
    # Pooled, the 30 actors' files outvote the voice's 10: the run alone.
    assert compare_partner.choose_weights(run, partner, labels, folds, everyone)[2] == 0.0
    # Each corpus counting the same (28/30 + 0) / 2 < (2/30 + 1) / 2: the partner's side.
    assert compare_partner.choose_weights(run, partner, labels, folds, everyone, groups=groups)[2] > 0.5
    # With the actors alone choosing, the groups change nothing.
    actors = groups == "RAVDESS"
    assert compare_partner.choose_weights(run, partner, labels, folds, actors, groups=groups) == \
        compare_partner.choose_weights(run, partner, labels, folds, actors)


@pytest.mark.experiment_run
def test_the_script_blends_a_run_and_writes_a_csv_the_scorer_reads(small_features, blend_run):
    data, run_csv, out_csv, args = blend_run
    first = run_script("experiments/compare_partner.py", *args)
    assert first.returncode == 0, first.stderr
    assert "making the ComParE functionals" in first.stdout
    assert "ms per clip on the mean" in first.stdout
    kept = compare_partner.joblib.load(small_features.parent / compare_partner.COMPARE_NAME)
    assert kept["paths"] == list(data["path"]) and kept["features"].shape == (len(data["path"]), 6373)
    assert np.isfinite(kept["features"]).all() and kept["features"].std(axis=0).max() > 0
    lines = first.stdout.splitlines()
    assert any(line.startswith("ComParE classifier alone: overall ") for line in lines)
    assert any(line.startswith(f"{run_csv}: blended: overall ") for line in lines)
    weights = next(line for line in lines if line.startswith(f"{run_csv}: w per fold: "))
    # The subset's folds: actors 1, 2 (fold 0), 5, 6 (fold 1) and both TESS voices (6, 7).
    assert [int(part.split(":")[0]) for part in weights.split(": ", 2)[2].split(", ")] == [0, 1, 6, 7]

    # The blended CSV holds every file once, each row's prediction its largest probability.
    blended_probabilities(out_csv, data)
    scored = run_script("neural_network.py", "--score-predictions", out_csv)
    assert scored.returncode == 0, scored.stderr
    assert "RAVDESS actors by sex" in scored.stdout

    # Run again: the functionals are read back, not made again.
    again = run_script("experiments/compare_partner.py", *args)
    assert again.returncode == 0, again.stderr
    assert "making the ComParE functionals" not in again.stdout
    assert [line for line in again.stdout.splitlines() if "w per fold" in line] == [weights]


def test_a_bad_run_csv_is_one_line(small_features, tmp_path):
    data = load_features(small_features)
    run_csv = tmp_path / "run.csv"
    refuses_a_short_run("experiments/compare_partner.py", small_features, run_csv)
    made_up_run(data, run_csv)  # every file, but one file's emotion changed
    lines = run_csv.read_text().splitlines()
    first = lines[1].split(",")
    first[6] = "calm" if first[6] != "calm" else "sad"
    run_csv.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    result = run_script("experiments/compare_partner.py", "--features", small_features, "--predictions", run_csv)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "its emotions are not those of" in result.stderr
    missing = run_script("experiments/compare_partner.py", "--features", small_features,
                         "--predictions", tmp_path / "none.csv")
    assert missing.returncode == 1
    assert len(missing.stderr.strip().splitlines()) == 1 and "none.csv: no such file" in missing.stderr


def test_a_corpus_file_gone_is_one_line(small_features, tmp_path):
    data = load_features(small_features)
    run_csv = tmp_path / "run.csv"
    made_up_run(data, run_csv)
    features = tmp_path / "features" / small_features.name  # no functionals kept beside this copy
    features.parent.mkdir()
    features.symlink_to(small_features)
    result = run_script("experiments/compare_partner.py", "--features", features, "--predictions", run_csv,
                        "--dataset", tmp_path / "empty")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "no such file" in result.stderr
    assert not (features.parent / compare_partner.COMPARE_NAME).exists()  # nothing half-written


def test_descriptors_pick_functionals_by_name(small_features, tmp_path):
    import opensmile

    names = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                            feature_level=opensmile.FeatureLevel.Functionals).feature_names
    keep = compare_partner.descriptor_columns("^mfcc_")
    assert keep.shape == (len(names),) and 0 < keep.sum() < len(names)
    assert all(n.startswith("mfcc_") == bool(k) for n, k in zip(names, keep))
    for bad in ("^nothing_like_this", "mfcc_sma[3"):
        result = run_script("experiments/compare_partner.py", "--features", small_features,
                            "--predictions", tmp_path / "none.csv", "--descriptors", bad)
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1 and "--descriptors" in result.stderr


def test_nothing_the_product_runs_imports_opensmile():
    # The research-licensed package is for this experiment alone: importing every product script
    # (which runs no main) must not load it.
    import subprocess

    scripts = sorted(path.stem for path in REPO.glob("*.py"))
    assert {"live_predictions", "neural_network", "streaming"} <= set(scripts)
    code = ("import sys; sys.path.insert(0, '.'); " + "; ".join(f"import {s}" for s in scripts)
            + "; print('opensmile' in sys.modules, 'audinterface' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_kept_functionals_are_made_again_when_the_front_end_or_opensmile_changed(tmp_path, monkeypatch):
    # A stand-in for the extractor (the real one is run by the test above): it only counts calls.
    made = []
    monkeypatch.setattr(compare_partner, "compare_features",
                        lambda paths, root, log: made.append(list(paths)) or np.zeros((len(paths), 3), np.float32))
    data, cache = {"path": ["a.flac", "b.flac"]}, tmp_path / compare_partner.COMPARE_NAME
    compare_partner.load_or_make(data, cache, log=lambda line: None)
    compare_partner.load_or_make(data, cache, log=lambda line: None)
    assert len(made) == 1  # the second call read the kept file
    changes = [("frontend", {"trim_top_db": 0.0}), ("opensmile", "0.0"), ("paths", ["a.flac"])]
    for n, (name, other) in enumerate(changes, start=2):
        kept = compare_partner.joblib.load(cache)
        compare_partner.joblib.dump({**kept, name: other}, cache)
        compare_partner.load_or_make(data, cache, log=lambda line: None)
        assert len(made) == n, f"kept functionals with another {name} were read back"
