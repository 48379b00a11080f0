"""The MFCC blend (issue 3): our model may blend in a seed-architecture model trained on the same
files, with a weight chosen on held-out speakers, saved with the model and used by every
prediction path."""

import numpy as np
import pytest

import corpus
import live_predictions
import model as model_lib
import neural_network
from conftest import DATASETS
from create_features import AUGMENTED_NAME, ROBUSTNESS_NAME, load_companion, load_features


def test_blend_is_the_renormalised_product_of_the_two_models():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(8), size=5), rng.dirichlet(np.ones(8), size=5)
    np.testing.assert_array_equal(model_lib.blend(p, q, 0.0), p)
    for w in (0.1, 0.5, 0.9):
        b = model_lib.blend(p, q, w)
        np.testing.assert_allclose(b.sum(axis=1), 1.0, atol=1e-12)
        expected = p ** (1 - w) * q ** w
        np.testing.assert_allclose(b, expected / expected.sum(axis=1, keepdims=True), rtol=1e-9)
    # Where the two disagree, enough weight on the other model moves the answer to its choice.
    p = np.array([[0.6, 0.4] + [0.0] * 6])
    q = np.array([[0.1, 0.9] + [0.0] * 6])
    assert model_lib.blend(p, q, 0.1).argmax() == 0 and model_lib.blend(p, q, 0.5).argmax() == 1


def _fold(held, test, labels, ours_right, other_right):
    """A synthetic fold (run_fold and mfcc_fold dicts): on its held-out files our model is sure of
    the true class where ``ours_right``, and the other model where ``other_right``; a model that is
    wrong leans to class 0 and leaves a little on every other class."""
    def probs(right):
        p = np.tile(np.where(right, 0.02, 0.5 / 7)[:, None], (1, 8))
        p[:, 0] = np.where(right, 0.02, 0.5)
        p[right, labels[held][right]] = 0.86
        return p / p.sum(axis=1, keepdims=True)
    return {"held": held, "test": test, "held_single": probs(ours_right)}, {"held": probs(other_right)}


def test_blend_weight_is_chosen_on_held_out_files_never_a_folds_test_files():
    labels = np.array([1] * 40 + [2] * 40 + [3] * 40 + [4] * 40)
    data = {"labels": labels}
    a, b, c, d = (np.arange(40 * i, 40 * (i + 1)) for i in range(4))
    always, never = np.ones(40, bool), np.zeros(40, bool)
    half = np.arange(40) < 20
    # Fold 0 tests files a. Fold 1 holds a out: there the blend wins (the other model is right
    # where ours is not). Fold 2 holds c out: there ours alone wins. Fold 0 must choose on fold 2's
    # files only, so ours alone, though the pooled files of all folds favour the blend.
    folds = [_fold(b, a, labels, half, never), _fold(a, b, labels, never, always), _fold(c, d, labels, always, never)]
    runs, mfccs = [f[0] for f in folds], [f[1] for f in folds]
    weights = (0.0, 0.5)
    per_fold, every = neural_network.choose_blend_weights(data, runs, mfccs, weights)
    chosen = [w for w, _ in per_fold]
    assert chosen[0] == 0.0
    # Fold 1 (tests b, which fold 0 holds out) chooses on fold 2's files; fold 2 on folds 0 and 1's.
    assert chosen[1] == 0.0 and per_fold[1][1] == {0.0: 1.0, 0.5: 1.0}
    assert chosen[2] == 0.5
    assert every == (0.5, pytest.approx({0.0: 60 / 120, 0.5: 100 / 120}))
    # One fold (protocol (a)): its own held-out files choose; ties go to ours alone.
    per_fold, _ = neural_network.choose_blend_weights(data, runs[1:2], mfccs[1:2], weights)
    assert per_fold[0][0] == 0.5
    per_fold, _ = neural_network.choose_blend_weights(data, runs[2:3], mfccs[2:3], weights)
    assert per_fold[0][0] == 0.0


@pytest.fixture(scope="module")
def two_models(small_features):
    """Our model and the seed's, each trained briefly on the small real subset, and its features."""
    data = load_features(small_features)
    ours, _, _ = neural_network.fit("cnn", data["features"], data["labels"], epochs=1)
    seed, _, _ = neural_network.fit("seed", data["features"], data["labels"], epochs=3)
    return ours, seed, data


def test_saved_blend_makes_every_prediction_path_blend_in_the_mfcc_model(two_models, tmp_path):
    ours, seed, data = two_models
    model_lib.save(ours, tmp_path / "ours", arch="cnn", test_time_noise_db=20.0)
    model_lib.save(seed, tmp_path / "seed", arch="seed")
    meta = model_lib.save(ours, tmp_path / "blend", arch="cnn", test_time_noise_db=20.0, blend_with=(seed, 0.3))
    assert meta["blend"]["weight"] == 0.3 and (tmp_path / "blend" / model_lib.BLEND_FOLDER / model_lib.MODEL_FILE).is_file()
    alone, mfcc = model_lib.load(tmp_path / "ours"), model_lib.load(tmp_path / "seed")
    clips = [DATASETS / data["path"][i] for i in (0, len(data["path"]) - 1)]
    for backend in ("numpy", "keras"):
        blended = model_lib.load(tmp_path / "blend", backend=backend)
        assert blended.blend_weight == 0.3 and blended.blended.arch == "seed"
        for path in clips:
            got = blended.predict_file(path)
            p = np.array([[alone.predict_file(path)[e] for e in corpus.EMOTIONS]])
            q = np.array([[mfcc.predict_file(path)[e] for e in corpus.EMOTIONS]])  # the clip itself, no noisy copy
            np.testing.assert_allclose([got[e] for e in corpus.EMOTIONS], model_lib.blend(p, q, 0.3)[0], atol=1e-6)
            assert not np.allclose([got[e] for e in corpus.EMOTIONS], p[0], atol=1e-4)
    # live_predictions.py goes the same way.
    batch = {}
    live_predictions.predict_paths(blended, clips, lambda f, probs, err: batch.__setitem__(f, probs))
    for f in clips:
        one = blended.predict_file(f)
        np.testing.assert_allclose([batch[f][e] for e in corpus.EMOTIONS], [one[e] for e in corpus.EMOTIONS], atol=1e-6)
    # Saved again without a blend: the blend folder goes, and the model predicts alone.
    model_lib.save(ours, tmp_path / "blend", arch="cnn", test_time_noise_db=20.0)
    assert not (tmp_path / "blend" / model_lib.BLEND_FOLDER).exists()
    again = model_lib.load(tmp_path / "blend")
    assert again.blended is None
    got, expected = again.predict_file(clips[0]), alone.predict_file(clips[0])
    np.testing.assert_allclose([got[e] for e in corpus.EMOTIONS], [expected[e] for e in corpus.EMOTIONS], atol=1e-9)


def test_another_model_in_the_blend_folder_is_refused(two_models, tmp_path):
    ours, seed, _ = two_models
    model_lib.save(ours, tmp_path / "blend", arch="cnn", blend_with=(seed, 0.2))
    other, _, _ = neural_network.fit("seed", *(lambda d: (d["features"][:40], d["labels"][:40]))(two_models[2]), epochs=1)
    model_lib.save(other, tmp_path / "blend" / model_lib.BLEND_FOLDER, arch="seed")  # whole and valid, but not the one
    with pytest.raises(model_lib.ModelError, match=r"mfcc: not the model .* blends in"):
        model_lib.load(tmp_path / "blend")


def test_every_fold_is_blended_and_its_mfcc_model_kept(small_features, tmp_path, monkeypatch):
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    data["robustness"] = load_companion(small_features, ROBUSTNESS_NAME, data)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setitem(neural_network.EPOCHS, "seed", 2)
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0, 0.2, 0.4))
    cache = tmp_path / "cache"
    trained_on = {}  # what each MFCC model trained on
    real_train_fold = neural_network.train_fold

    def recording_train_fold(arch, data, train, held=None, seed=neural_network.SEED):
        if arch == "seed":
            trained_on[len(trained_on)] = (np.asarray(train), held)
        return real_train_fold(arch, data, train, held, seed=seed)

    monkeypatch.setattr(neural_network, "train_fold", recording_train_fold)
    first = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["cnn-b-fold0.joblib", "cnn-b-fold6.joblib",
                                                      "mfcc-b-fold0.joblib", "mfcc-b-fold6.joblib"]
    r = first["b"]
    assert len(r["mfcc_blend"]["weights"]) == 2 and set(r["mfcc_blend"]["weights"]) <= {0.0, 0.2, 0.4}
    assert set(r["without_mfcc_blend"]) == set(r["mfcc_alone"]) == {"all", "RAVDESS", "TESS"}
    assert set(r["robustness"]) == {"noise_20db", "noise_10db", "gain_-20db", "telephone"}
    # Each fold's MFCC model trained on the files ours trained on: never its test speakers, nor
    # the held-out speakers its weight is chosen on.
    folds = neural_network.speaker_folds(data)
    present = set(folds.tolist())
    assert len(trained_on) == 2
    for (train, held), k in zip(trained_on.values(), (0, 6)):
        assert held is None
        assert set(folds[train]) == present - {k, neural_network.validation_fold(k, present)}
    # The blend is what the run reports: ours alone and the kept MFCC model alone, blended by
    # each fold's weight.
    unblended = neural_network.protocol_speakers("cnn", data, log=lambda *_: None, only_folds={0, 6}, cache=cache,
                                                 settings=neural_network.run_settings("cnn", data))[1]
    start = 0
    for run, k, w in zip(unblended, (0, 6), r["mfcc_blend"]["weights"]):
        kept, _ = neural_network.cached_run(cache, f"mfcc-b-fold{k}", neural_network.run_settings("seed", data), None)
        mfcc = neural_network.predict("seed", neural_network.fold_model("seed", kept),
                                      [data["features"][i] for i in run["test"]])
        np.testing.assert_array_equal(r["idx"][start:start + len(run["test"])], run["test"])
        np.testing.assert_allclose(r["probs"][start:start + len(run["test"])], model_lib.blend(run["raw"], mfcc, w),
                                   atol=1e-9)
        start += len(run["test"])
    # Read back, nothing trains, and the blend comes out the same.
    import keras
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: pytest.fail("trained a kept fold"))
    again = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)
    np.testing.assert_array_equal(again["b"]["probs"], r["probs"])
    assert again["b"]["mfcc_blend"] == r["mfcc_blend"]
    # Without a blend, the probabilities are ours alone: what the blended run reports as "without".
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))
    plain = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)
    assert "mfcc_blend" not in plain["b"] and plain["b"]["scores"] == r["without_mfcc_blend"]
