"""experiments/voices_temperature.py: a temperature per fold fitted on the other folds' voices."""

import csv
import sys

import numpy as np

from conftest import REPO, blended_probabilities, made_up_run, refuses_a_short_run, run_script

sys.path.insert(0, str(REPO / "experiments"))
import voices_temperature  # noqa: E402
from create_features import load_features  # noqa: E402
import corpus  # noqa: E402
import model as model_lib  # noqa: E402
import neural_network  # noqa: E402


def sure_run(n, k, right_share, temperature, seed):
    """(probs (n, k), labels (n,)): right ``right_share`` of the time, as sure as ``temperature``
    makes it (below 1: surer than it is right)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += np.where(rng.random(n) < right_share, 2.5, 0.0)
    return model_lib.calibrate(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), temperature), labels


def test_each_group_counts_the_same_in_the_fitted_temperature():
    # 1800 rows that are sure as they are right, 200 that are far too sure: pooled, the many decide;
    # each group counting the same, the temperature softens more.
    many, many_labels = sure_run(1800, 8, 0.6, 1.0, seed=0)
    few, few_labels = sure_run(200, 8, 0.6, 0.25, seed=1)
    probs, labels = np.concatenate([many, few]), np.concatenate([many_labels, few_labels])
    groups = np.repeat(["RAVDESS", "TESS"], [1800, 200])
    pooled = neural_network.fit_temperature(probs, labels)
    each = neural_network.fit_temperature(probs, labels, groups=groups)
    assert each > pooled * 1.3
    assert neural_network.fit_temperature(probs, labels, groups=np.zeros(2000)) == pooled


def test_a_folds_temperature_is_fitted_on_the_other_folds_only():
    probs, labels = sure_run(600, 8, 0.6, 0.5, seed=2)
    folds = np.repeat([0, 1, 2], 200)
    groups = np.where(folds == 2, "TESS", "RAVDESS")
    chosen = voices_temperature.choose_voice_temperatures(probs, labels, folds, groups)
    assert sorted(chosen) == [0, 1, 2] and all(t > 1.2 for t in chosen.values())  # the run is too sure
    # Fold 0's own files made far surer: its temperature does not move, the others' do.
    sharper = probs.copy()
    sharper[folds == 0] = model_lib.calibrate(probs[folds == 0], 0.3)
    again = voices_temperature.choose_voice_temperatures(sharper, labels, folds, groups)
    assert again[0] == chosen[0] and again[1] > chosen[1] and again[2] > chosen[2]
    every = voices_temperature.choose_voice_temperatures(probs, labels, folds, groups, every=True)
    assert every == neural_network.fit_temperature(probs, labels, groups=groups)


def test_the_script_calibrates_every_condition_and_writes_a_csv_the_scorer_reads(small_features, tmp_path):
    data = load_features(small_features)
    run_csv, out_csv = tmp_path / "run.csv", tmp_path / "calibrated.csv"
    made_up_run(data, run_csv)
    lines = run_csv.read_text().splitlines()  # the same rows again under a robustness condition
    noisy = [line.replace(",clean,", ",noise_20db,", 1) for line in lines[1:]]
    run_csv.write_text("\n".join(lines + noisy) + "\n")
    result = run_script("experiments/voices_temperature.py", "--features", small_features,
                        "--predictions", run_csv, "--out", out_csv)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert any(line.startswith(f"{run_csv}: clean: accuracy ") and "after: ECE " in line for line in printed)
    assert any(line.startswith(f"{run_csv}: noise_20db: accuracy ") for line in printed)

    # Each fold's probabilities are the run's at the temperature fitted on the other folds.
    names, folds = list(corpus.EMOTIONS), neural_network.speaker_folds(data)
    before = blended_probabilities(run_csv, {"path": list(data["path"]) * 2})
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["condition"] for r in rows}) == ["clean", "noise_20db"]
    clean = {r["path"]: [float(r[e]) for e in names] for r in rows if r["condition"] == "clean"}
    after = np.array([clean[p] for p in data["path"]])
    original = before[:len(data["path"])]  # made_up_run writes the files in the features' order
    temperatures = voices_temperature.choose_voice_temperatures(
        original, np.asarray(data["labels"]), folds, np.asarray(data["corpus"]))
    assert len(set(temperatures.values())) > 1
    for k, t in temperatures.items():
        expected = model_lib.calibrate(original[folds == k], t)
        assert np.allclose(after[folds == k], expected, atol=2e-4)
    scored = run_script("neural_network.py", "--score-predictions", out_csv)
    assert scored.returncode == 0, scored.stderr
    assert "noise_20db acc" in scored.stdout


def test_a_bad_run_csv_is_one_line(small_features, tmp_path):
    run_csv = tmp_path / "run.csv"
    refuses_a_short_run("experiments/voices_temperature.py", small_features, run_csv)
    result = run_script("experiments/voices_temperature.py", "--features", small_features,
                        "--predictions", run_csv, "--out", tmp_path / "a.csv", tmp_path / "b.csv")
    assert result.returncode == 2 and "one --out per --predictions" in result.stderr
