"""Featurize -> train -> save -> load -> predict on a small real subset, and the protocol splits."""

import joblib
import numpy as np
import pytest

import audio
import corpus
import model as model_lib
import neural_network
from conftest import DATASETS, FIT_ROWS_FILE, copy_folds, needs_data, plumbing_third_voice, product_recipe, run_script
from create_features import FeaturesError, load_features


def test_features_file_holds_labels_speakers_and_params(small_features, small_dataset):
    data = load_features(small_features)
    utterances, _ = corpus.scan(small_dataset)
    assert data["path"] == [u.relpath for u in utterances]
    assert data["speaker"] == [u.speaker for u in utterances]
    assert data["corpus"] == [u.corpus for u in utterances]
    assert list(data["labels"]) == [u.label for u in utterances]
    assert data["emotions"] == list(corpus.EMOTIONS)
    assert data["frontend"] == audio.frontend_params()
    assert set(data["speaker"]) == {"Actor_01", "Actor_02", "Actor_05", "Actor_06", "OAF", "YAF"}


def test_training_and_prediction_paths_give_identical_features(small_features):
    data = load_features(small_features)
    for i in (0, len(data["path"]) - 1):
        path = DATASETS / data["path"][i]
        np.testing.assert_array_equal(data["features"][i], audio.file_features(path))


def test_speaker_folds_never_share_a_speaker(small_features):
    data = load_features(small_features)
    folds = neural_network.speaker_folds(data)
    speakers = np.array(data["speaker"])
    for k in set(folds):
        assert not set(speakers[folds == k]) & set(speakers[folds != k])
        v = neural_network.validation_fold(k, set(folds))
        assert v != k
    # Four actors per RAVDESS fold, one speaker per TESS fold.
    assert {k: len(set(speakers[folds == k])) for k in set(folds)} == {0: 2, 1: 2, 6: 1, 7: 1}


def test_protocol_b_tests_every_file_once_on_unseen_speakers(small_features, one_epoch_folds, tmp_path, monkeypatch):
    # The suite's one-epoch folds (one_epoch_folds: the product's recipe made cheap), read back
    # from their cache; what each fold's network trained on was recorded as they trained.
    product_recipe(monkeypatch)
    data = neural_network.load_data(small_features)
    cache = copy_folds(one_epoch_folds, tmp_path / "cache")
    order, runs = neural_network.protocol_speakers("cnn", data, log=lambda *_: None, cache=cache,
                                                   settings=neural_network.run_settings("cnn", data))
    assert sorted(order.tolist()) == list(range(len(data["labels"])))
    probs = np.concatenate([r["probs"] for r in runs])
    assert probs.shape == (len(data["labels"]), len(corpus.EMOTIONS))
    folds = neural_network.speaker_folds(data)
    fits = joblib.load(one_epoch_folds.parent / FIT_ROWS_FILE)
    assert len(fits) == len(set(folds.tolist()))
    for k, fold_fits in zip(sorted(set(folds.tolist())), fits):
        # Every fit of fold k saw every other fold's files (training and validation), none of its own.
        assert fold_fits and all(rows == np.flatnonzero(folds != k).tolist() for rows in fold_fits), k


@pytest.mark.parametrize("arch", model_lib.ARCHITECTURES)
def test_short_training_saves_and_reloads_identically(small_features, tmp_path, arch):
    data = load_features(small_features)
    net, history, used = neural_network.fit(arch, data["features"], data["labels"], epochs=2)
    assert used == (2 if arch == "seed" else {name: 2 for name in model_lib.CNN_TOWERS})
    assert len(history["loss"]) == 2
    model_lib.save(net, tmp_path / "model", arch=arch)
    predictor = model_lib.load(tmp_path / "model")
    clips = [DATASETS / data["path"][i] for i in (0, 100, len(data["path"]) - 1)]
    before = neural_network.predict(arch, net, [audio.file_features(c) for c in clips])
    after = np.array([list(predictor.predict_file(c).values()) for c in clips])
    after_sorted = np.array([[predictor.predict_file(c)[e] for e in corpus.EMOTIONS] for c in clips])
    np.testing.assert_allclose(after_sorted, before, rtol=0, atol=1e-6)
    assert np.allclose(after.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.diff(after, axis=1) <= 0)  # most likely first


def test_cnn_ensemble_predicts_the_average_of_its_towers(small_features, tmp_path, monkeypatch):
    data = load_features(small_features)
    monkeypatch.setattr(model_lib, "CNN_TOWERS", ("t40", "bands"))
    net, _, _ = neural_network.fit("cnn", data["features"], data["labels"], epochs=1)
    towers = model_lib.towers(net)
    assert list(towers) == ["t40", "bands"]
    clips = [data["features"][i] for i in (0, 50, len(data["labels"]) - 1)]
    alone = [neural_network.predict("cnn", tower, clips) for tower in towers.values()]
    assert not np.allclose(alone[0], alone[1], atol=1e-3)  # towers are separate models
    np.testing.assert_allclose(neural_network.predict("cnn", net, clips), np.mean(alone, axis=0), atol=1e-6)
    # The saved model, through the fast NumPy copy, predicts the same average.
    model_lib.save(net, tmp_path / "model", arch="cnn")
    predictor = model_lib.load(tmp_path / "model")
    assert predictor.backend == "numpy"
    np.testing.assert_allclose(predictor.predict_features(clips), np.mean(alone, axis=0), atol=1e-5)
    assert set(model_lib.towers(model_lib.load(tmp_path / "model", backend="keras").keras_model)) == set(towers)
    # One tower alone is a plain model, not an ensemble of one.
    monkeypatch.setattr(model_lib, "CNN_TOWERS", ("t40",))
    assert model_lib.towers(model_lib.ensemble(model_lib.build("cnn"))) == {}
    monkeypatch.setattr(model_lib, "CNN_TOWERS", ("t40", "t41"))
    with pytest.raises(ValueError, match="unknown towers"):
        model_lib.build("cnn")


def test_each_tower_keeps_the_weights_of_its_own_best_epoch(monkeypatch):
    monkeypatch.setattr(model_lib, "CNN_TOWERS", ("t40", "bands"))
    net = model_lib.build("cnn")
    callback = neural_network.tower_checkpoints(net, patience=2)
    callback.set_model(net)

    def tower_weights(name):
        return [w.copy() for layer in net.layers if layer.name.startswith(name) for w in layer.get_weights()]

    def disturb():  # stands in for an epoch of training: every weight moves
        for layer in net.layers:
            layer.set_weights([w + 0.5 for w in layer.get_weights()])

    callback.on_train_begin()
    snapshots = []
    # Validation losses: t40 is best after epoch 2, bands after epoch 1; neither improves afterwards.
    for epoch, (t40, bands) in enumerate([(1.0, 1.0), (0.9, 0.8), (0.5, 0.9), (0.6, 0.9), (0.7, 0.95)]):
        disturb()
        snapshots.append({name: tower_weights(name) for name in ("t40", "bands")})
        callback.on_epoch_end(epoch, {"val_loss": t40 + bands, "val_t40_loss": t40, "val_bands_loss": bands})
        # It stops once neither tower has improved for 2 epochs: after epoch 4 (t40's best is epoch 2).
        assert net.stop_training == (epoch == 4)
    callback.on_train_end()
    assert callback.epochs == {"t40": 3, "bands": 2}
    for name, best in (("t40", 2), ("bands", 1)):
        for now, then in zip(tower_weights(name), snapshots[best][name]):
            np.testing.assert_array_equal(now, then)
    # Training that ends at its epoch limit (after epoch 3 here): t40, best at epoch 2, was still
    # within its patience, so the model trained on all files should train it for all 4 epochs;
    # bands had stopped improving, so it keeps its best epoch. Both keep their best weights.
    net.stop_training = False  # as keras.Model.fit does when training starts
    callback.on_train_begin()
    for epoch, (t40, bands) in enumerate([(1.0, 1.0), (0.9, 0.8), (0.5, 0.9), (0.6, 0.9)]):
        disturb()
        snapshots[epoch] = {name: tower_weights(name) for name in ("t40", "bands")}
        callback.on_epoch_end(epoch, {"val_t40_loss": t40, "val_bands_loss": bands})
    assert not net.stop_training
    callback.on_train_end()
    assert callback.epochs == {"t40": 4, "bands": 2}
    for name, best in (("t40", 2), ("bands", 1)):
        for now, then in zip(tower_weights(name), snapshots[best][name]):
            np.testing.assert_array_equal(now, then)
    # Given epochs per tower (the shipped model), each tower keeps its weights after that many.
    callback = neural_network.tower_checkpoints(net, keep={"t40": 1, "bands": 3})
    callback.set_model(net)
    callback.on_train_begin()
    snapshots = []
    for epoch in range(3):
        disturb()
        snapshots.append({name: tower_weights(name) for name in ("t40", "bands")})
        callback.on_epoch_end(epoch, {})
    callback.on_train_end()
    assert callback.epochs == {"t40": 1, "bands": 3}
    for name, kept in (("t40", 0), ("bands", 2)):
        for now, then in zip(tower_weights(name), snapshots[kept][name]):
            np.testing.assert_array_equal(now, then)


def test_augmented_copies_of_test_speakers_never_train(small_features):
    from create_features import AUGMENTED_NAME, load_companion
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    assert data["augmented"] is not None
    folds = neural_network.speaker_folds(data)
    train = np.flatnonzero(folds != 0)
    feats, labels, _ = neural_network.training_set("cnn", data, train)
    copies = len(data["augmented"]["source"]) // len(data["labels"])
    assert len(feats) == len(labels) == len(train) * (1 + copies)
    test_speakers = {data["speaker"][i] for i in np.flatnonzero(folds == 0)}
    aug_ids = {id(a) for a in data["augmented"]["augmented"]}
    used = [j for j, a in enumerate(data["augmented"]["augmented"]) if id(a) in {id(f) for f in feats}]
    assert used and all(data["speaker"][data["augmented"]["source"][j]] not in test_speakers for j in used)
    assert len(set(map(id, feats)) & aug_ids) == len(train) * copies
    # Copies carry their source's label; the seed baseline trains on the plain files only.
    np.testing.assert_array_equal(labels[len(train):], data["labels"][data["augmented"]["source"][used]])
    assert len(neural_network.training_set("seed", data, train)[0]) == len(train)


def test_speaker_centring_removes_each_voice_mean_spectrum(small_features):
    from create_features import AUGMENTED_NAME, ROBUSTNESS_NAME, load_companion
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    data["robustness"] = load_companion(small_features, ROBUSTNESS_NAME, data)
    centred = neural_network.centre_speakers(data)
    speakers = np.asarray(data["speaker"])
    assert len(set(speakers)) > 2
    for s in sorted(set(speakers)):
        idx = np.flatnonzero(speakers == s)
        before = np.concatenate([data["features"][i] for i in idx]).mean(axis=0)
        after = np.concatenate([centred["features"][i] for i in idx]).mean(axis=0)
        assert np.abs(before).max() > 1.0 and np.abs(after).max() < 1e-3, s
        for c, feats in centred["robustness"].items():  # each condition on its own mean
            assert np.abs(np.concatenate([feats[i] for i in idx]).mean(axis=0)).max() < 1e-3, (s, c)
        # Each file moves by its voice's mean, whatever the file: the shape within a clip is kept.
        i = idx[0]
        shift = data["features"][i] - centred["features"][i]
        np.testing.assert_allclose(shift, np.broadcast_to(before, shift.shape), atol=1e-3)
    j = 0
    source = data["augmented"]["source"][j]
    shift = data["augmented"]["augmented"][j] - centred["augmented"]["augmented"][j]
    voice = (data["features"][source] - centred["features"][source])[0]
    np.testing.assert_allclose(shift, np.broadcast_to(voice, shift.shape), atol=1e-3)
    # The input is left as it was: the seed baseline reads it unchanged.
    assert centred["features"][0] is not data["features"][0]
    assert np.abs(np.concatenate(data["features"]).mean()) > 1.0


def test_speaker_centring_is_refused_outside_a_pilot(tmp_path):
    for args in (["--no-ship"], ["--test-time-noise", "none"]):
        result = run_script("neural_network.py", "--speaker-centre", *args, "--model-dir", tmp_path / "model")
        assert result.returncode == 2 and "--speaker-centre: a pilot only" in result.stderr
        assert not (tmp_path / "model").exists()


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 8, 2000)
    logits = rng.normal(size=(2000, 8))
    logits[np.arange(2000), labels] += 1.5          # right about half the time ...
    probs = model_lib.calibrate(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 0.3)  # ... but sure
    t = neural_network.fit_temperature(probs, labels)
    before = neural_network.expected_calibration_error(probs, labels)
    after = neural_network.expected_calibration_error(model_lib.calibrate(probs, t), labels)
    assert t > 2 and before > 0.2 and after < 0.05
    assert neural_network.expected_calibration_error(np.eye(8)[labels], labels) == 0.0



def test_reliability_bins_files_by_confidence_and_ece_is_their_gap():
    def sure_of(k, p):  # probability p on class k, the rest shared by the other 7
        return np.where(np.arange(8) == k, p, (1 - p) / 7)

    # Two files at confidence 0.95, one of them wrong; two at 0.55, both right.
    probs = np.array([sure_of(0, 0.95), sure_of(1, 0.95), sure_of(2, 0.55), sure_of(3, 0.55)])
    labels = np.array([0, 4, 2, 3])
    bins = neural_network.reliability(probs, labels)
    assert [(hi, n) for hi, n, _, _ in bins] == [(pytest.approx(0.6), 2), (pytest.approx(1.0), 2)]
    assert [(conf, acc) for _, _, conf, acc in bins] == [(pytest.approx(0.55), 1.0), (pytest.approx(0.95), 0.5)]
    # ECE weighs each bin's gap by its files: (2 * 0.45 + 2 * 0.45) / 4.
    assert neural_network.expected_calibration_error(probs, labels, bins=10) == pytest.approx(0.45)

def test_neural_network_script_end_to_end(small_features, tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- results:start -->\nold numbers\n<!-- results:end -->\n\n## Next\n")
    result = run_script("neural_network.py", "--features", small_features, "--arch", "cnn",
                        "--baseline", "seed", "--protocols", "a,b", "--epochs", "1", "--towers", "t40,bands",
                        "--mfcc-blend", "0.3", "--model-dir", tmp_path / "model", "--media-dir", tmp_path / "media",
                        "--update-readme", readme, "--predictions", tmp_path / "copy_b.csv")
    assert result.returncode == 0, result.stderr
    # --predictions writes the probabilities media/ gets (and, with --no-ship, the only copy).
    copy = (tmp_path / "copy_b.csv").read_bytes()
    assert copy == (tmp_path / "media" / neural_network.PREDICTIONS_FILE).read_bytes() and copy.count(b"\n") > 1
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("# Title") and text.endswith("## Next\n")
    assert "| cnn | (b) unseen speakers |" in text and "Shipped model: `cnn`" in text
    for name in ("model_summary.txt", "classification_report.txt", "confusion_matrix.png",
                 "training_curves.png", "metrics.json"):
        assert (tmp_path / "media" / name).stat().st_size > 0
    import json
    metrics = json.loads((tmp_path / "media" / "metrics.json").read_text())
    for arch in ("cnn", "seed"):
        for p in ("a", "b"):
            assert set(metrics[arch][p]["scores"]) == {"all", "RAVDESS", "TESS"}
    assert "| seed | (b) unseen speakers |" in result.stdout
    assert set(metrics["cnn"]["b"]["robustness"]) == {"noise_20db", "noise_10db", "gain_-20db", "telephone"}
    assert len(metrics["cnn"]["b"]["temperatures"]) == 4
    assert set(metrics["cnn"]["b"]["recall"]) == set(corpus.EMOTIONS)
    # Each tower of the ensemble is scored alone too, and the README shows it.
    assert list(metrics["cnn"]["b"]["towers"]) == ["t40", "bands"] and "towers" not in metrics["seed"]["b"]
    assert "| cnn | t40 alone |" in text and "| cnn | bands alone |" in text
    meta = model_lib.read_meta(tmp_path / "model")
    assert meta["emotions"] == list(corpus.EMOTIONS) and meta["architecture"] == "cnn"
    assert meta["input"]["dynamic_range_db"] == model_lib.DYNAMIC_RANGE_DB
    # The shipped temperature: fitted on every fold's held-out files after the blend, if applied at all.
    fitted = metrics["cnn"]["b"]["fitted_temperature_all_folds"]
    assert meta["temperature"] == metrics["cnn"]["b"]["temperature_all_folds"] == (
        fitted if neural_network.FIT_TEMPERATURE else 1.0) and fitted > 0
    # Test-time noise (on by default): by the rule "all", every fold averages in both noisy copies
    # (by "choose", each fold takes one or none on its held-out speakers); shipped as most folds
    # did, reported.
    chosen = metrics["cnn"]["b"]["test_time_noise_db"]
    assert model_lib.TEST_TIME_NOISE_DB == (20.0, 10.0)  # what the script tried
    if neural_network.TEST_TIME_NOISE_RULE == "all":
        assert chosen == [[20.0, 10.0]] * 4
    else:
        assert len(chosen) == 4 and set(chosen) <= {None, 20.0, 10.0}
    shipped_noise = neural_network.shipped_test_time_noise(chosen)
    assert meta["input"]["test_time_noise_db"] == (list(shipped_noise) if isinstance(shipped_noise, tuple)
                                                   else shipped_noise)
    assert set(metrics["cnn"]["b"]["test_time_noise_options"]) == {"20", "10", "20+10"}
    assert metrics["seed"]["b"]["test_time_noise_db"] == [None] * 4
    assert "without_test_time_noise" not in metrics["seed"]["b"]
    assert "| cnn | (b) unseen speakers | " + ", ".join(
        "none" if c is None else model_lib.noise_key(c) for c in chosen) in text
    # Test-time warps (tried by default, after the noise): the same.
    warps = metrics["cnn"]["b"]["test_time_warps"]
    assert len(warps) == 4 and all(w is None or w == [0.9, 1.1] for w in warps)
    shipped = neural_network.shipped_test_time_warps([None if w is None else tuple(w) for w in warps])
    assert meta["input"]["test_time_warps"] == (None if shipped is None else list(shipped))
    assert "test_time_warps" not in metrics["seed"]["b"]
    for key in ("without_test_time_warps", "always_test_time_warps"):
        assert set(metrics["cnn"]["b"][key]) == {"all", "RAVDESS", "TESS"}
    assert "| cnn | (b) unseen speakers | " + "; ".join("none" if w is None else "0.9,1.1" for w in warps) in text
    # The blend (here one weight, so every fold takes it): reported beside ours alone and the
    # partner alone, and shipped in the model folder.
    blend = metrics["cnn"]["b"]["mfcc_blend"]
    assert blend["weights"] == [0.3] * 4 and blend["weight_all_folds"] == 0.3 and blend["partner"] == model_lib.PARTNER
    assert metrics["cnn"]["a"]["mfcc_blend"]["weights"] == [0.3] and "mfcc_blend" not in metrics["seed"]["b"]
    assert set(metrics["cnn"]["b"]["without_mfcc_blend"]) == set(metrics["cnn"]["b"]["mfcc_alone"]) == {"all", "RAVDESS", "TESS"}
    assert "| cnn | (b) unseen speakers | 0.3, 0.3, 0.3, 0.3 |" in text
    assert meta["blend"]["weight"] == 0.3 and model_lib.load(tmp_path / "model").blended.arch == model_lib.PARTNER
    assert "blend weight 0.3 (partner)" in text and "MFCC means and its prosody" in text
    # The third voice (on by default): each (b) fold's C from the grid and weight from the weights,
    # reported beside the run without it and it alone; (a) takes the shipped model's choices.
    third = metrics["cnn"]["b"]["third_voice"]
    assert len(third["c"]) == len(third["weights"]) == 4 and "third_voice" not in metrics["seed"]["b"]
    assert set(third["c"]) <= set(neural_network.THIRD_VOICE_C_GRID)
    assert set(third["weights"]) | {third["weight_all_folds"]} <= set(neural_network.THIRD_VOICE_WEIGHTS)
    assert third["c_all_folds"] == neural_network.shipped_third_voice_c(dict(enumerate(third["c"])))
    assert metrics["cnn"]["a"]["third_voice"]["weights"] == [third["weight_all_folds"]]
    assert set(metrics["cnn"]["b"]["without_third_voice"]) == set(metrics["cnn"]["b"]["third_voice_alone"]) \
        == {"all", "RAVDESS", "TESS"}
    assert "| cnn | (b) unseen speakers | " + ", ".join(f"{c:g}" for c in third["c"]) + " | " in text
    if third["weight_all_folds"] > 0:  # shipped in the model folder, and predicted through
        assert meta["third_voice"]["weight"] == third["weight_all_folds"] == \
            model_lib.load(tmp_path / "model").third_weight
        assert f"third voice weight {third['weight_all_folds']:g}" in text
    else:
        assert "third_voice" not in meta and "third voice none" in text
    # Then the fourth voice (on by default), chosen the same way on each clip's speech embedding and
    # blended in last: the third voice's "blended" column is the blend before it.
    fourth = metrics["cnn"]["b"]["fourth_voice"]
    assert len(fourth["c"]) == len(fourth["weights"]) == 4 and "fourth_voice" not in metrics["seed"]["b"]
    assert set(fourth["c"]) <= set(neural_network.FOURTH_VOICE_C_GRID)
    assert metrics["cnn"]["a"]["fourth_voice"]["weights"] == [fourth["weight_all_folds"]]
    assert "Fourth voice: then, last," in text
    if fourth["weight_all_folds"] > 0:
        assert meta["fourth_voice"]["weight"] == fourth["weight_all_folds"] == \
            model_lib.load(tmp_path / "model").fourth_weight
        assert f"fourth voice weight {fourth['weight_all_folds']:g}" in text
    else:
        assert "fourth_voice" not in meta and "fourth voice none" in text
    # Every file's protocol (b) probabilities, once per model, agreeing with the scores.
    import csv
    with open(tmp_path / "media" / neural_network.PREDICTIONS_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    data = load_features(small_features)
    truth = dict(zip(data["path"], (corpus.EMOTIONS[c] for c in data["labels"])))
    for arch in ("cnn", "seed"):
        for condition in ("noise_20db", "noise_10db", "gain_-20db", "telephone"):  # every file under each
            assert sorted(r["path"] for r in rows if r["model"] == arch and r["condition"] == condition) \
                == sorted(data["path"])
        mine = [r for r in rows if r["model"] == arch and r["condition"] == neural_network.CLEAN]
        assert sorted(r["path"] for r in mine) == sorted(data["path"])
        assert all(r["emotion"] == truth[r["path"]] for r in mine)
        probs = np.array([[float(r[e]) for e in corpus.EMOTIONS] for r in mine])
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
        # The predicted emotion has the highest probability (printed to 4 decimals, so ties can show).
        predicted = np.array([corpus.EMOTIONS.index(r["predicted"]) for r in mine])
        np.testing.assert_allclose(probs[np.arange(len(mine)), predicted], probs.max(axis=1), rtol=0, atol=1e-4)
        accuracy = np.mean([r["predicted"] == r["emotion"] for r in mine])
        assert abs(accuracy - metrics[arch]["b"]["scores"]["all"]["accuracy"]) < 1e-3
    # Scoring the file again gives the run's scores, and on a subset of folds only their files.
    predictions = tmp_path / "media" / neural_network.PREDICTIONS_FILE
    again = neural_network.score_predictions(predictions, log=lambda *_: None)
    for arch in ("cnn", "seed"):
        for c in ("all", "RAVDESS", "TESS"):
            assert again[arch]["scores"][c] == metrics[arch]["b"]["scores"][c]
        # The robustness columns too: each condition's probabilities are in the CSV.
        assert again[arch]["robustness"] == pytest.approx(metrics[arch]["b"]["robustness"], abs=1e-9)
    folds = neural_network.speaker_folds(data)
    fold0 = neural_network.score_predictions(predictions, {0}, log=lambda *_: None)
    assert fold0["cnn"]["scores"]["all"]["files"] == (folds == 0).sum() and list(fold0["cnn"]["folds"]) == [0]
    # A later run without protocol (b) leaves no stale probabilities beside its reports.
    # It also trains with another input floor, and the model it saves carries that floor.
    result = run_script("neural_network.py", "--features", small_features, "--protocols", "none",
                        "--baseline", "none", "--epochs", "1", "--model-dir", tmp_path / "model",
                        "--media-dir", tmp_path / "media", "--dynamic-range-db", "45")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "media" / neural_network.PREDICTIONS_FILE).exists()
    assert (tmp_path / "media" / "metrics.json").stat().st_size > 0
    assert model_lib.read_meta(tmp_path / "model")["input"]["dynamic_range_db"] == 45.0
    # Without protocol (b) no fold chose a noisy copy, so the model predicts each clip alone, and
    # no blend weight: the old blend folder is gone.
    assert model_lib.read_meta(tmp_path / "model")["input"]["test_time_noise_db"] is None
    assert "blend" not in model_lib.read_meta(tmp_path / "model")
    assert not (tmp_path / "model" / model_lib.BLEND_FOLDER).exists()
    # Nor a third voice, whose C and weight protocol (b) chooses.
    assert "third_voice" not in model_lib.read_meta(tmp_path / "model")
    assert not (tmp_path / "model" / model_lib.THIRD_VOICE_FILE).exists() and "no third voice shipped" in result.stdout


def test_fold_cache_reads_finished_folds_back_and_refuses_other_settings(small_features, tmp_path,
                                                                        monkeypatch):
    from create_features import AUGMENTED_NAME, ROBUSTNESS_NAME, load_companion
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    data["robustness"] = load_companion(small_features, ROBUSTNESS_NAME, data)

    def recipe():  # the run kept below, set again after each monkeypatch.undo()
        monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
        plumbing_third_voice(monkeypatch)  # kept too, and its files checked; its choices are not

    recipe()
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))  # ours alone (tests/test_mfcc_blend.py)
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())  # every clip alone first
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    cache = tmp_path / "cache"
    first = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["cnn-b-fold6.joblib", "fourth-voice-b.joblib",
                                                       "third-voice-b-augmented.joblib", "third-voice-b.joblib"]
    # One fold alone has no other fold's files to choose a last voice's weight on: none.
    assert first["b"]["third_voice"]["weights"] == first["b"]["fourth_voice"]["weights"] == [0.0]
    # Run again: the fold's model is read back, not trained (training would fail), and predicts the same.
    lines = []
    import keras
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained a kept fold"))
    again = neural_network.evaluate("cnn", data, ["b"], log=lines.append, only_folds={6}, cache=cache)
    np.testing.assert_array_equal(again["b"]["probs"], first["b"]["probs"])
    assert again["b"]["scores"] == first["b"]["scores"] and again["b"]["robustness"] == first["b"]["robustness"]
    assert again["b"]["seconds"] > 0 and again["b"]["epochs"] == first["b"]["epochs"]
    assert any("fold 6" in line and f"read from {cache}" in line for line in lines)
    for name in ("third-voice-b", "third-voice-b-augmented"):  # both of the third voice's sets
        assert any(line.startswith(f"  third voice: {name} read from {cache}") for line in lines)
    assert any(line.startswith(f"  fourth voice: fourth-voice-b read from {cache}") for line in lines)
    # The kept model serves another test-time setting too: its noisy copies are scored, still untrained.
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", (10.0,))
    noisy = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    np.testing.assert_array_equal(noisy["b"]["without_test_time_noise"]["all"]["accuracy"],
                                  first["b"]["scores"]["all"]["accuracy"])
    assert set(noisy["b"]["test_time_noise_options"]) == {"10"}
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", (0.9, 1.1))  # and its warped views
    warped = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    # The same kept model makes the same noise choice; without the warps it scores as before.
    assert warped["b"]["test_time_noise_db"] == noisy["b"]["test_time_noise_db"]
    assert warped["b"]["without_test_time_warps"] == noisy["b"]["scores"]
    assert set(warped["b"]["always_test_time_warps"]) == {"all", "TESS"}  # fold 6 is TESS's OAF
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    # Another recipe, or other features, never reuses the kept fold.
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 2)
    with pytest.raises(neural_network.FoldCacheError, match="epochs differ"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(model_lib, "TRAIN_WARP", (0.95, 1.05))
    with pytest.raises(neural_network.FoldCacheError, match="code_sha256 differ"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    monkeypatch.undo()
    recipe()
    # Another seed (--seed) is another run: the kept fold is refused, and a new one trains another model.
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    monkeypatch.setattr(neural_network, "SEED", neural_network.SEED + 1)
    with pytest.raises(neural_network.FoldCacheError, match=r"\(seed differ\)"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    # (The last voices are left out of that run: one fold alone blends them at weight 0 above.)
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)
    other = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6})
    assert not np.allclose(other["b"]["probs"], first["b"]["probs"], atol=1e-3)
    monkeypatch.undo()
    recipe()
    # A run without TensorFlow's oneDNN kernels (set before it starts) rounds differently: refused too.
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with pytest.raises(neural_network.FoldCacheError, match=r"\(onednn differ\)"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    monkeypatch.undo()
    recipe()
    data["features"][0] = data["features"][0] + 1.0
    with pytest.raises(neural_network.FoldCacheError, match="data_sha256 differ"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)
    # From the command line: one line naming the file, status 1, the kept fold untouched.
    kept = (cache / "cnn-b-fold6.joblib").read_bytes()
    result = run_script("neural_network.py", "--features", small_features, "--protocols", "b",
                        "--baseline", "none", "--folds", "6", "--epochs", "2", "--fold-cache", cache,
                        "--model-dir", tmp_path / "model", "--media-dir", tmp_path / "media")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {cache / 'cnn-b-fold6.joblib'}: kept from")
    assert (cache / "cnn-b-fold6.joblib").read_bytes() == kept and not (tmp_path / "model").exists()
    result = run_script("neural_network.py", "--features", small_features, "--protocols", "b",
                        "--baseline", "none", "--folds", "6", "--epochs", "1", "--seed", "43",
                        "--fold-cache", cache, "--no-ship", "--media-dir", tmp_path / "media")
    assert result.returncode == 1 and "(seed differ)" in result.stderr.strip().splitlines()[-1]
    (cache / "cnn-b-fold6.joblib").write_bytes(kept[:1000])
    with pytest.raises(neural_network.FoldCacheError, match="corrupted fold cache file"):
        neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={6}, cache=cache)


def test_refit_trains_on_held_out_speakers_never_test_ones_and_keeps_the_choices(small_features, tmp_path,
                                                                                monkeypatch):
    from create_features import AUGMENTED_NAME, load_companion
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))  # ours alone
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", (0.9, 1.1))  # a choice the refit must keep
    monkeypatch.setattr(neural_network, "REFIT", True)
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)  # a pilot of our model's folds alone
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)  # the same; tests/test_fourth_voice.py
    seen = []
    real_fit = neural_network.fit

    def recording_fit(arch, feats, labels, **kw):
        seen.append(({id(f) for f in feats}, kw.get("val") is not None, kw.get("epochs")))
        return real_fit(arch, feats, labels, **kw)

    monkeypatch.setattr(neural_network, "fit", recording_fit)
    lines = []
    result = neural_network.evaluate("cnn", data, ["b"], log=lines.append, only_folds={0, 7})["b"]
    folds = neural_network.speaker_folds(data)
    assert [v for _, v, _ in seen] == [True, True, False, False]  # early stopping first, the refits without
    for k, (first, _, _), (refit, _, epochs) in zip((0, 7), seen[:2], seen[2:]):
        ids = lambda idx: {id(data["features"][i]) for i in idx}  # noqa: E731
        test = np.flatnonzero(folds == k)
        held = np.flatnonzero(folds == neural_network.validation_fold(k, set(folds)))
        assert not ids(test) & refit and not ids(held) & first  # never the test speakers
        assert ids(held) <= refit and first < refit  # the first model's files, and its held-out ones
        assert epochs == {name: 1 for name in model_lib.CNN_TOWERS}  # the epochs the first one used
    # The first models are scored in the same run.
    assert set(result["before_refit"]) == set(result["scores"]) == {"all", "RAVDESS", "TESS"}
    assert any("fold 7 refit on" in line and "before" in line for line in lines)
    assert any("before the refit" in line for line in lines)
    # Kept in the fold cache beside the first model, and read back: the same probabilities, nothing trained.
    monkeypatch.setattr(neural_network, "fit", real_fit)
    cache = tmp_path / "cache"
    kept = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=cache)["b"]
    assert sorted(p.name for p in cache.iterdir()) == ["cnn-b-fold7-refit.joblib", "cnn-b-fold7.joblib"]
    import keras
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained a kept fold"))
    again = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=cache)["b"]
    np.testing.assert_array_equal(again["probs"], kept["probs"])
    # Without the refit the first model answers, with the same choices, as the refit run scored it.
    monkeypatch.setattr(neural_network, "REFIT", False)
    before = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={7}, cache=cache)["b"]
    assert before["scores"] == kept["before_refit"] and "before_refit" not in before
    assert before["test_time_warps"] == kept["test_time_warps"]
    assert not np.allclose(before["probs"], kept["probs"], atol=1e-3)


def test_unknown_tower_or_bad_input_floor_is_refused_in_one_line(tmp_path):
    kept = tmp_path / "kept_b.csv"
    kept.write_text("an earlier run's probabilities\n")
    result = run_script("neural_network.py", "--protocols", "a", "--predictions", kept, "--no-ship")
    assert result.returncode == 2 and "--predictions: only protocol (b)" in result.stderr
    assert kept.read_text() == "an earlier run's probabilities\n"
    result = run_script("neural_network.py", "--towers", "t40,t41", "--model-dir", tmp_path / "model")
    assert result.returncode == 2 and "--towers" in result.stderr and "t41" in result.stderr
    assert not (tmp_path / "model").exists()
    result = run_script("neural_network.py", "--dynamic-range-db", "-6", "--model-dir", tmp_path / "model")
    assert result.returncode == 2 and "--dynamic-range-db" in result.stderr and "-6" in result.stderr
    assert not (tmp_path / "model").exists()
    for bad in ("20,loud", "20,20", "90"):
        result = run_script("neural_network.py", "--test-time-noise", bad, "--model-dir", tmp_path / "model")
        assert result.returncode == 2 and "--test-time-noise: use none, or distinct SNRs" in result.stderr
        assert bad in result.stderr and not (tmp_path / "model").exists()
    for bad in ("0.9,wide", "1", "0.9,0.9", "2"):
        result = run_script("neural_network.py", "--test-time-warps", bad, "--model-dir", tmp_path / "model")
        assert result.returncode == 2 and "--test-time-warps: use none, or distinct factors" in result.stderr
        assert bad in result.stderr and not (tmp_path / "model").exists()
    for bad in ("0", "two", "-1"):
        result = run_script("neural_network.py", "--last-voices-blas-threads", bad, "--model-dir", tmp_path / "model")
        assert result.returncode == 2 and "--last-voices-blas-threads: use a count of 1 or more, or all" in result.stderr
        assert f"(got {bad})" in result.stderr and not (tmp_path / "model").exists()
    # A --model-dir that holds other files is refused in one line before any training starts.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    result = run_script("neural_network.py", "--model-dir", tmp_path / "notes", "--media-dir", tmp_path / "media")
    assert result.returncode == 1 and "files from" not in result.stdout
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'notes'}: holds files that are not a "
                                                  "model's (mine.txt); save the model into a new folder or over a model folder"]
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["mine.txt"]


def test_corrupted_features_file_is_refused_and_not_replaced(small_features, tmp_path):
    bad = tmp_path / "features.joblib"
    bad.write_bytes(small_features.read_bytes()[:5000])
    with pytest.raises(FeaturesError, match="corrupted features file"):
        load_features(bad)
    result = run_script("neural_network.py", "--features", bad, "--model-dir", tmp_path / "m",
                        "--media-dir", tmp_path / "media")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: corrupted features")
    assert "Traceback" not in result.stderr and not (tmp_path / "m").exists()


def test_features_from_other_frontend_parameters_are_refused(small_features, tmp_path):
    data = joblib.load(small_features)
    data["frontend"] = {**data["frontend"], "n_mels": 128}
    other = tmp_path / "other.joblib"
    joblib.dump(data, other)
    with pytest.raises(FeaturesError, match="other front-end parameters"):
        load_features(other)


def test_create_features_reports_skips_and_keeps_old_file_on_failure(small_dataset, tmp_path):
    out = tmp_path / "features.joblib"
    out.write_bytes(b"previous good file")
    empty = tmp_path / "empty_dataset"
    empty.mkdir()
    (empty / "stray.txt").write_text("not audio")
    result = run_script("create_features.py", "--dataset", empty, "--out", out)
    assert result.returncode == 1 and "no usable corpus file" in result.stderr
    assert "skipped stray.txt: not an audio file" in result.stdout
    assert out.read_bytes() == b"previous good file"
    result = run_script("create_features.py", "--dataset", tmp_path / "missing", "--out", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert out.read_bytes() == b"previous good file"


@needs_data
def test_unreadable_corpus_files_are_skipped_and_counted(tmp_path):
    from conftest import link_subset
    dataset = link_subset(tmp_path / "data", ["RAVDESS/Actor_07/03-01-04-01-01-01-07.flac",
                                              "TESS/YAF_sad/YAF_back_sad.flac"])
    (dataset / "RAVDESS" / "Actor_07" / "03-01-05-01-01-01-07.wav").write_text("not audio")
    (dataset / "RAVDESS" / "Actor_07" / "03-01-06-01-01-01-07.wav").write_bytes(b"")
    out = tmp_path / "f" / "features.joblib"
    result = run_script("create_features.py", "--dataset", dataset, "--out", out, "--augment", "1")
    assert result.returncode == 0, result.stderr
    assert "skipped RAVDESS/Actor_07/03-01-05-01-01-01-07.wav: not a readable audio file" in result.stdout
    assert "skipped RAVDESS/Actor_07/03-01-06-01-01-01-07.wav: empty file" in result.stdout
    assert "read 4 files: featurized 2 (RAVDESS 1, TESS 1), skipped 2" in result.stdout
    data = load_features(out)
    assert data["path"] == ["RAVDESS/Actor_07/03-01-04-01-01-01-07.flac", "TESS/YAF_sad/YAF_back_sad.flac"]
    assert len(data["skipped"]) == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["augmented.joblib", "features.joblib",
                                                            "robustness.joblib"]


def _write_predictions_csv(path, rows, conditions=None):
    """A predictions CSV written by neural_network.write_predictions from rows of (speaker, file,
    emotion, probabilities in corpus.EMOTIONS order), all of model "cnn"; ``conditions``:
    {robustness condition: probabilities of every row}, when the run had them."""
    data = {"corpus": ["TESS" if s in ("OAF", "YAF") else "RAVDESS" for s, *_ in rows],
            "speaker": [s for s, *_ in rows], "path": [f for _, f, *_ in rows],
            "labels": np.array([corpus.EMOTIONS.index(e) for _, _, e, _ in rows])}
    results = {"cnn": {"b": {"idx": range(len(rows)), "probs": np.array([p for *_, p in rows])}}}
    if conditions:
        results["cnn"]["b"]["condition_probs"] = {c: np.array(p) for c, p in conditions.items()}
    neural_network.write_predictions(path, data, results)


def test_score_predictions_scores_the_ensemble_of_two_runs(tmp_path):
    # Two runs on the same 3 files. Each is right on one file only; on the other two it hesitates
    # between the truth and a different wrong emotion per run, so their mean is right on all three.
    e = list(corpus.EMOTIONS)

    def probs(**weights):
        p = np.full(len(e), 0.01)
        for name, w in weights.items():
            p[e.index(name)] = w
        return p / p.sum()

    first = [("Actor_01", "a.flac", "angry", probs(angry=0.6, sad=0.2)),
             ("Actor_01", "b.flac", "sad", probs(sad=0.4, happy=0.5)),
             ("OAF", "c.flac", "happy", probs(happy=0.4, calm=0.5))]
    second = [("Actor_01", "a.flac", "angry", probs(angry=0.4, fearful=0.5)),
              ("Actor_01", "b.flac", "sad", probs(sad=0.6, calm=0.2)),
              ("OAF", "c.flac", "happy", probs(happy=0.4, disgust=0.5))]
    _write_predictions_csv(tmp_path / "one.csv", first)
    _write_predictions_csv(tmp_path / "two.csv", second)
    out = neural_network.score_predictions([tmp_path / "one.csv", tmp_path / "two.csv"], log=lambda *_: None)
    assert out[f"cnn in {tmp_path / 'one.csv'}"]["scores"]["all"]["accuracy"] == pytest.approx(1 / 3)
    assert out[f"cnn in {tmp_path / 'two.csv'}"]["scores"]["all"]["accuracy"] == pytest.approx(1 / 3)
    both = out["cnn, mean of 2 runs"]
    assert both["scores"]["all"]["accuracy"] == 1.0 and both["folds"] == {0: 1.0, 6: 1.0}
    assert both["scores"]["TESS"]["files"] == 1
    # One run alone is scored under its model's name, as before. Its weakest class is happy (sad
    # is missed too; the tie goes to the first class), and its one happy file went to calm.
    one = neural_network.score_predictions(tmp_path / "one.csv", log=lambda *_: None)
    assert set(one) == {"cnn"} and one["cnn"]["recall"] == ("happy", 0.0)
    assert one["cnn"]["went"] == {"OAF": {"calm": 1}}
    # Where a class went is counted for all RAVDESS actors together and for each TESS voice.
    mixed = [first[0], first[2], ("Actor_02", "d.flac", "happy", probs(happy=0.2, angry=0.7)),
             ("Actor_03", "e.flac", "happy", probs(happy=0.2, angry=0.7)),
             ("YAF", "f.flac", "happy", probs(happy=0.9))]
    _write_predictions_csv(tmp_path / "mixed.csv", mixed)
    went = neural_network.score_predictions(tmp_path / "mixed.csv", log=lambda *_: None)["cnn"]["went"]
    assert went == {"RAVDESS": {"angry": 2}, "OAF": {"calm": 1}, "YAF": {"happy": 1}}
    # Runs on other files cannot be averaged: the error names the file, and the script exits 1.
    _write_predictions_csv(tmp_path / "other.csv", second[:2])
    with pytest.raises(ValueError, match="other.csv: its cnn rows are not the files"):
        neural_network.score_predictions([tmp_path / "one.csv", tmp_path / "other.csv"], log=lambda *_: None)
    result = run_script("neural_network.py", "--score-predictions", f"{tmp_path / 'one.csv'},{tmp_path / 'other.csv'}")
    assert result.returncode == 1 and "other.csv: its cnn rows are not the files" in result.stderr
    result = run_script("neural_network.py", "--score-predictions", f"{tmp_path / 'one.csv'},{tmp_path / 'two.csv'}")
    assert result.returncode == 0 and "[cnn, mean of 2 runs] 3 files: all acc 1.000" in result.stdout
    assert "[cnn, mean of 2 runs] happy files went to: OAF happy 1\n" in result.stdout
    # A file that is not a predictions CSV (here one without its probability columns) is named in
    # one line, not a traceback.
    lines = (tmp_path / "one.csv").read_text().splitlines()
    (tmp_path / "cut.csv").write_text("\n".join(",".join(line.split(",")[:8]) for line in lines) + "\n")
    result = run_script("neural_network.py", "--score-predictions", str(tmp_path / "cut.csv"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'cut.csv'}: not a predictions CSV (no column {', '.join(corpus.EMOTIONS)}); "
        "write one with neural_network.py --predictions"]



def test_score_predictions_shows_reliability_and_counts_sure_mistakes_by_emotion(tmp_path):
    e = list(corpus.EMOTIONS)

    def sure_of(name, p):
        return np.where(np.arange(8) == e.index(name), p, (1 - p) / 7)

    rows = [("Actor_01", "a.flac", "angry", sure_of("angry", 0.95)),      # right and sure
            ("OAF", "b.flac", "happy", sure_of("surprised", 0.9)),       # wrong and sure
            ("OAF", "c.flac", "happy", sure_of("surprised", 0.95)),      # wrong and sure
            ("YAF", "d.flac", "sad", sure_of("calm", 0.5))]              # wrong, unsure
    _write_predictions_csv(tmp_path / "one.csv", rows)
    lines = []
    out = neural_network.score_predictions(tmp_path / "one.csv", log=lines.append)["cnn"]
    assert out["sure_wrong"] == {"OAF happy": 2}
    assert [(n, acc) for _, n, _, acc in out["reliability"]["TESS"]] == [(1, 0.0), (1, 0.0), (1, 0.0)]
    assert [(n, acc) for _, n, _, acc in out["reliability"]["RAVDESS"]] == [(1, 1.0)]
    assert any("above 0.8" in line and "OAF happy 2" in line for line in lines)

def test_score_predictions_scores_the_robustness_conditions_a_run_wrote(tmp_path):
    e = list(corpus.EMOTIONS)
    rows = [("Actor_01", "a.flac", "angry", np.eye(8)[e.index("angry")]),
            ("Actor_01", "b.flac", "sad", np.eye(8)[e.index("sad")]),
            ("OAF", "c.flac", "happy", np.eye(8)[e.index("happy")])]
    wrong = np.eye(8)[e.index("calm")]
    # Through a telephone band the model gets one file of 3 right, with 10 dB of noise two.
    telephone = [rows[0][3], wrong, wrong]
    noise = [rows[0][3], rows[1][3], (wrong + rows[2][3] * 0.9) / 1.9]
    _write_predictions_csv(tmp_path / "one.csv", rows, {"telephone": telephone, "noise_10db": noise})
    out = neural_network.score_predictions(tmp_path / "one.csv", log=lambda *_: None)
    assert out["cnn"]["scores"]["all"]["accuracy"] == 1.0 and out["cnn"]["scores"]["all"]["files"] == 3
    assert out["cnn"]["robustness"] == pytest.approx({"noise_10db": 2 / 3, "telephone": 1 / 3})
    # A second run right on c.flac with noise: the ensemble averages each condition's probabilities.
    better = [rows[0][3], rows[1][3], (wrong + rows[2][3] * 1.5) / 2.5]
    _write_predictions_csv(tmp_path / "two.csv", rows, {"telephone": telephone, "noise_10db": better})
    both = neural_network.score_predictions([tmp_path / "one.csv", tmp_path / "two.csv"], log=lambda *_: None)
    assert both["cnn, mean of 2 runs"]["robustness"] == pytest.approx({"noise_10db": 1.0, "telephone": 1 / 3})
    # Only conditions every CSV holds are scored; a CSV from before the condition column reads as clean.
    _write_predictions_csv(tmp_path / "plain.csv", rows)
    with open(tmp_path / "plain.csv") as f:
        lines = f.read().splitlines()
    old = [",".join(x for i, x in enumerate(line.split(",")) if i != 1) for line in lines]
    (tmp_path / "old.csv").write_text("\n".join(old) + "\n")
    assert "condition" not in old[0]
    mixed = neural_network.score_predictions([tmp_path / "one.csv", tmp_path / "old.csv"], log=lambda *_: None)
    assert mixed["cnn, mean of 2 runs"]["robustness"] == {}
    assert mixed[f"cnn in {tmp_path / 'old.csv'}"]["scores"]["all"]["accuracy"] == 1.0
    result = run_script("neural_network.py", "--score-predictions", tmp_path / "one.csv")
    assert result.returncode == 0 and "; noise_10db acc 0.667; telephone acc 0.333" in result.stdout


def test_score_predictions_scores_the_ravdess_actors_of_each_sex(tmp_path):
    # Actor_01 is a man and Actor_02 a woman (odd numbers are men); the TESS voice counts for neither.
    e = list(corpus.EMOTIONS)
    rows = [("Actor_01", "a.flac", "angry", np.eye(8)[e.index("angry")]),
            ("Actor_01", "b.flac", "sad", np.eye(8)[e.index("calm")]),
            ("Actor_02", "c.flac", "sad", np.eye(8)[e.index("sad")]),
            ("OAF", "d.flac", "happy", np.eye(8)[e.index("calm")])]
    _write_predictions_csv(tmp_path / "one.csv", rows)
    lines = []
    out = neural_network.score_predictions(tmp_path / "one.csv", log=lines.append)["cnn"]
    assert out["by_sex"] == {"female": (1.0, 1), "male": (0.5, 2)}
    assert "[cnn] RAVDESS actors by sex: female 1.000 (1 files), male 0.500 (2 files)" in lines
    # TESS alone: no line, and a name that is no RAVDESS actor is refused by corpus.actor_sex.
    _write_predictions_csv(tmp_path / "tess.csv", rows[3:])
    lines = []
    assert neural_network.score_predictions(tmp_path / "tess.csv", log=lines.append)["cnn"]["by_sex"] == {}
    assert not any("by sex" in line for line in lines)
    with pytest.raises(corpus.CorpusError, match="Actor_25"):
        corpus.actor_sex("Actor_25")
    assert corpus.speaker_sex("TESS", "OAF") == "female" and corpus.speaker_sex("RAVDESS", "Actor_01") == "male"
    with pytest.raises(corpus.CorpusError, match="XAF"):
        corpus.speaker_sex("TESS", "XAF")


def test_a_long_run_hashes_the_code_as_it_first_read_it_even_when_its_file_changes(tmp_path, monkeypatch):
    # The fold cache's code hash reads each function's source once per process: a run that outlives
    # an edit of its files must not hash its later folds from the edited file at the old line numbers.
    module = tmp_path / "edited_while_running.py"
    module.write_text("def step(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import edited_while_running

    first = neural_network.source(edited_while_running.step)
    module.write_text("# a line added above\ndef step(x):\n    return x + 2\n")
    assert neural_network.source(edited_while_running.step) == first == "def step(x):\n    return x + 1\n"
    import inspect
    assert inspect.getsource(edited_while_running.step) != first  # what reading the file again gives
