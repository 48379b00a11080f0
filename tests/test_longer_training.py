"""experiments/longer_training.py: a fold cache's (b) models trained for more epochs, on a small real subset."""

import sys

import joblib
import numpy as np
import pytest

import model as model_lib
import neural_network
from conftest import REPO, run_script

sys.path.insert(0, str(REPO / "experiments"))
import longer_training  # noqa: E402


@pytest.mark.experiment_run
def test_extends_on_the_fold_training_files_and_neural_network_scores_the_copy(small_features, tmp_path,
                                                                                monkeypatch, capsys):
    data = neural_network.load_data(small_features)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))  # ours alone
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)  # blended in after; tests/test_third_voice.py
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)  # the same; tests/test_fourth_voice.py
    cache = tmp_path / "cache"
    first = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=cache)["b"]
    kept = joblib.load(cache / "cnn-b-fold7.joblib")

    trained_on = []
    real_batches = neural_network.train_batches

    def recording(feats, labels, batch_size, seed, corpora=None):
        trained_on.append({id(f) for f in feats})
        return real_batches(feats, labels, batch_size, seed, corpora)

    monkeypatch.setattr(neural_network, "train_batches", recording)
    monkeypatch.setattr(neural_network, "load_data", lambda features: data)  # the same arrays, to follow them
    out = tmp_path / "longer"
    longer_training.main(["--cache", str(cache), "--out", str(out), "--extra-epochs", "2",
                          "--features", str(small_features)])
    printed = capsys.readouterr().out
    assert "fold 7: epochs t40 1, t40b 1 -> " in printed and "held-out loss" in printed

    # Trained on the fold's training files and their copies only: never its held-out or test speakers.
    folds = neural_network.speaker_folds(data)
    train, held = longer_training.fold_files(data, 7)
    ids = lambda idx: {id(data["features"][i]) for i in idx}  # noqa: E731
    assert len(trained_on) == 1 and ids(train) <= trained_on[0]
    assert not trained_on[0] & (ids(held) | ids(np.flatnonzero(folds == 7)))

    # The copy: every kept file, the fold's settings as they were, up to 2 epochs more per tower,
    # other weights exactly when a tower took an epoch; no partial folder left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in cache.iterdir())
    assert not (tmp_path / "longer.partial").exists()
    longer = joblib.load(out / "cnn-b-fold7.joblib")
    assert longer["settings"] == kept["settings"]
    added = {name: longer["run"]["epochs"][name] - 1 for name in model_lib.CNN_TOWERS}
    assert all(0 <= n <= 2 for n in added.values())
    same = all(np.array_equal(a, b) for a, b in zip(longer["run"]["weights"], kept["run"]["weights"]))
    assert same == (not any(added.values()))

    # neural_network.py reads the copy as the fold's model (its code as it was: the settings hold
    # the code's hash), trains nothing, and scores it.
    monkeypatch.setattr(neural_network, "train_batches", real_batches)
    import keras
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained a kept fold"))
    scored = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=out)["b"]
    assert scored["probs"].shape == first["probs"].shape
    if same:  # no epoch beat the kept weights: the fold predicts as before
        np.testing.assert_allclose(scored["probs"], first["probs"], atol=1e-6)
    else:
        assert not np.allclose(scored["probs"], first["probs"], atol=1e-4)


@pytest.mark.experiment_run
def test_corpus_option_trains_on_that_corpus_training_files_alone(small_features, tmp_path, monkeypatch, capsys):
    data = neural_network.load_data(small_features)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)  # blended in after; tests/test_third_voice.py
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)  # the same; tests/test_fourth_voice.py
    cache = tmp_path / "cache"
    neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=cache)
    trained_on = []
    real_batches = neural_network.train_batches

    def recording(feats, labels, batch_size, seed, corpora=None):
        trained_on.append(({id(f) for f in feats}, set(corpora)))
        return real_batches(feats, labels, batch_size, seed, corpora)

    monkeypatch.setattr(neural_network, "train_batches", recording)
    monkeypatch.setattr(neural_network, "load_data", lambda features: data)
    longer_training.main(["--cache", str(cache), "--out", str(tmp_path / "longer"), "--extra-epochs", "1",
                          "--corpus", "RAVDESS", "--features", str(small_features)])
    # Fold 7 (YAF) trains on RAVDESS actors and OAF; the extra epoch saw the actors' files alone,
    # while the fit is still reported on both corpora's training files.
    train, _ = longer_training.fold_files(data, 7)
    ravdess, _ = longer_training.fold_files(data, 7, "RAVDESS")
    assert 0 < len(ravdess) < len(train)
    assert {data["corpus"][i] for i in ravdess} == {"RAVDESS"}
    ids = lambda idx: {id(data["features"][i]) for i in idx}  # noqa: E731
    assert len(trained_on) == 1 and trained_on[0][1] == {"RAVDESS"}
    assert ids(ravdess) <= trained_on[0][0] and not trained_on[0][0] & ids(np.setdiff1d(train, ravdess))
    printed = capsys.readouterr().out
    assert "training clips RAVDESS" in printed and "TESS" in printed.split("training clips")[1]


def test_refuses_an_existing_out_folder_or_a_cache_without_fold_models(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_script("experiments/longer_training.py", "--cache", empty, "--out", tmp_path / "new")
    assert result.returncode == 1 and f"{empty}: no cnn-b-foldK.joblib" in result.stderr
    assert not (tmp_path / "new").exists()
    (empty / "cnn-b-fold0.joblib").write_bytes(b"")
    result = run_script("experiments/longer_training.py", "--cache", empty, "--out", empty)
    assert result.returncode == 1 and "already exists" in result.stderr
    result = run_script("experiments/longer_training.py", "--cache", empty, "--out", tmp_path / "new",
                        "--folds", "3")
    assert result.returncode == 1 and "--folds 3: give folds kept in" in result.stderr and "(0)" in result.stderr
    assert not (tmp_path / "new").exists() and not (tmp_path / "new.partial").exists()
    result = run_script("experiments/longer_training.py", "--cache", empty, "--out", tmp_path / "new")
    assert result.returncode == 1 and "cnn-b-fold0.joblib: not a readable fold cache file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "new").exists()
