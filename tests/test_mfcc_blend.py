"""The blend (issue 3): our model may blend in a partner trained on the same files (model.PARTNER,
on MFCC means and prosody, or the seed's model on MFCC means alone), with a weight chosen on
held-out speakers, saved with the model and used by every prediction path."""

import json

import numpy as np
import pytest

import audio
import corpus
import live_predictions
import model as model_lib
import neural_network
from conftest import DATASETS, product_recipe
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


def test_temperature_is_fitted_after_the_blend_on_the_held_out_files_the_weight_is_chosen_on(monkeypatch):
    labels = np.array([1] * 40 + [2] * 40 + [3] * 40 + [4] * 40)
    data = {"labels": labels}
    a, b, c, d = (np.arange(40 * i, 40 * (i + 1)) for i in range(4))
    rng = np.random.default_rng(0)
    # Ours as each fold predicts its held-out files at test time (its views): fold 1's (files a,
    # fold 0's test files) sure and mostly wrong, fold 2's unsure and mostly right.
    sure_wrong = np.full((40, 8), 0.01)
    sure_wrong[:, 0] = 0.93
    unsure = rng.dirichlet(np.ones(8) * 5, size=40)
    unsure[np.arange(40), labels[c]] += 0.3
    unsure /= unsure.sum(axis=1, keepdims=True)
    runs = [{"held": b, "test": a, "held_views": unsure}, {"held": a, "test": b, "held_views": sure_wrong},
            {"held": c, "test": d, "held_views": unsure}]
    mfccs = [{"held": rng.dirichlet(np.ones(8), size=40)} for _ in runs]
    fitted, every = neural_network.choose_temperatures(data, runs, mfccs, [0.2, 0.0, 0.4], 0.3)
    # Fold 0 never sees fold 1's files (its own test files): only fold 2's, blended at fold 0's weight.
    fit = neural_network.fit_temperature
    assert fitted[0] == fit(model_lib.blend(unsure, mfccs[2]["held"], 0.2), labels[c])
    assert fitted[1] == fit(model_lib.blend(unsure, mfccs[2]["held"], 0.0), labels[c])
    pooled = np.concatenate([model_lib.blend(r["held_views"], m["held"], 0.4) for r, m in zip(runs[:2], mfccs[:2])])
    assert fitted[2] == fit(pooled, labels[np.r_[b, a]])
    assert fitted[2] > 1.0 > fitted[0]  # fold 1's sure mistakes soften; right but unsure sharpens
    assert every == fit(np.concatenate([model_lib.blend(r["held_views"], m["held"], 0.3) for r, m in zip(runs, mfccs)]),
                        labels[np.r_[b, a, c]])
    # Without a blend, ours alone; without held-out files (the seed's model), no temperature.
    assert neural_network.choose_temperatures(data, runs)[0][0] == fit(unsure, labels[c])
    assert neural_network.choose_temperatures(data, [dict(r, held=None) for r in runs]) == ([1.0] * 3, 1.0)
    # Applied to the test probabilities and those under each condition, only when FIT_TEMPERATURE is set;
    # no file changes its top emotion.
    raw = rng.dirichlet(np.ones(8), size=40)
    run = {"raw": raw, "probs": raw, "conditions": {"telephone": raw[::-1]}}
    monkeypatch.setattr(neural_network, "FIT_TEMPERATURE", False)
    kept = neural_network.calibrated_run(run, 2.0)
    assert kept["probs"] is raw and kept["temperature"] == 1.0 and kept["fitted_temperature"] == 2.0
    monkeypatch.setattr(neural_network, "FIT_TEMPERATURE", True)
    calibrated = neural_network.calibrated_run(run, 2.0)
    assert calibrated["temperature"] == 2.0 and calibrated["raw"] is raw
    np.testing.assert_allclose(calibrated["probs"], model_lib.calibrate(raw, 2.0))
    np.testing.assert_allclose(calibrated["conditions"]["telephone"], model_lib.calibrate(raw[::-1], 2.0))
    assert (calibrated["probs"].argmax(1) == raw.argmax(1)).all()
    assert calibrated["probs"].max(1).mean() < raw.max(1).mean()


def test_a_bias_per_emotion_corrects_an_emotion_said_too_rarely():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 8, 3000)
    logits = rng.normal(size=(3000, 8))
    logits[np.arange(3000), labels] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    shy = probs.copy()
    shy[:, 3] *= 0.05  # the model says sad twenty times too rarely
    shy /= shy.sum(1, keepdims=True)
    bias = neural_network.fit_bias(shy, labels)
    assert bias[0] == 0.0 and bias[3] == pytest.approx(np.log(20) + bias[1], abs=0.4)
    fixed = neural_network.apply_bias(shy, bias)
    np.testing.assert_allclose(fixed.sum(1), 1.0)
    assert neural_network.log_loss(fixed, labels) < neural_network.log_loss(shy, labels)
    assert np.mean(fixed.argmax(1) == labels) > np.mean(shy.argmax(1) == labels) + 0.05
    assert np.mean(fixed.argmax(1) == labels) == pytest.approx(np.mean(probs.argmax(1) == labels), abs=0.02)


def test_the_bias_is_fitted_like_the_temperature_after_blend_and_temperature(monkeypatch):
    labels = np.array([1] * 40 + [2] * 40 + [3] * 40 + [4] * 40)
    data = {"labels": labels}
    a, b, c, d = (np.arange(40 * i, 40 * (i + 1)) for i in range(4))
    rng = np.random.default_rng(0)
    views = [rng.dirichlet(np.ones(8), size=40) for _ in range(3)]
    runs = [{"held": b, "test": a, "held_views": views[0]}, {"held": a, "test": b, "held_views": views[1]},
            {"held": c, "test": d, "held_views": views[2]}]
    mfccs = [{"held": rng.dirichlet(np.ones(8), size=40)} for _ in runs]
    biases, every = neural_network.choose_biases(data, runs, mfccs, [0.2, 0.0, 0.4], 0.3, temperatures=[2.0, 1.0, 0.5])
    fit = neural_network.fit_bias
    # Fold 0 never sees fold 1's held-out files (its own test files): only fold 2's, blended at its
    # weight and tempered at its temperature.
    np.testing.assert_allclose(biases[0], fit(model_lib.calibrate(model_lib.blend(views[2], mfccs[2]["held"], 0.2), 2.0),
                                              labels[c]))
    pooled = np.concatenate([model_lib.blend(r["held_views"], m["held"], 0.4) for r, m in zip(runs[:2], mfccs[:2])])
    np.testing.assert_allclose(biases[2], fit(model_lib.calibrate(pooled, 0.5), labels[np.r_[b, a]]))
    np.testing.assert_allclose(every, fit(np.concatenate(
        [model_lib.blend(r["held_views"], m["held"], 0.3) for r, m in zip(runs, mfccs)]), labels[np.r_[b, a, c]]))
    # Fold 2's pooled held-out files are all emotion 1 or 2 (files a and b): its bias favours those.
    assert min(biases[2][[1, 2]]) > max(np.delete(biases[2], [1, 2]))
    # Without held-out files (the seed's model), no bias.
    assert all((x == 0).all() for x in neural_network.choose_biases(data, [dict(r, held=None) for r in runs])[0])
    # Applied after the temperature, to the test probabilities and those under each condition.
    raw = rng.dirichlet(np.ones(8), size=40)
    run = {"raw": raw, "probs": raw, "conditions": {"telephone": raw[::-1]}}
    monkeypatch.setattr(neural_network, "FIT_TEMPERATURE", True)
    shifted = neural_network.calibrated_run(run, 2.0, biases[2])
    np.testing.assert_allclose(shifted["probs"], neural_network.apply_bias(model_lib.calibrate(raw, 2.0), biases[2]))
    np.testing.assert_allclose(shifted["conditions"]["telephone"],
                               neural_network.apply_bias(model_lib.calibrate(raw[::-1], 2.0), biases[2]))
    assert shifted["bias"] == list(biases[2]) and shifted["raw"] is raw
    assert neural_network.calibrated_run(run, 2.0)["bias"] is None


@pytest.fixture(scope="module")
def two_models(small_features):
    """Our model, the seed's and the partner (fit_partner's dict), each trained briefly on the small
    real subset, and its features."""
    data = load_features(small_features)
    ours, _, _ = neural_network.fit("cnn", data["features"], data["labels"], epochs=1)
    seed, _, _ = neural_network.fit("seed", data["features"], data["labels"], epochs=3)
    epochs = neural_network.EPOCHS["seed"]
    neural_network.EPOCHS["seed"] = 3
    try:
        partner = neural_network.fit_partner(data, np.arange(len(data["labels"])))
    finally:
        neural_network.EPOCHS["seed"] = epochs
    return ours, seed, data, partner


def partner_of(two_models, kind):
    """(Keras model, arch, prosody scale) of the partner ``kind`` ("seed" or model.PARTNER)."""
    _, seed, _, partner = two_models
    if kind == "seed":
        return seed, "seed", None
    return neural_network.partner_model(partner), model_lib.PARTNER, partner["scale"]


@pytest.mark.parametrize("kind", ["seed", model_lib.PARTNER])
def test_saved_blend_makes_every_prediction_path_blend_in_the_partner(two_models, tmp_path, kind):
    ours, _, data, _ = two_models
    other, arch, scale = partner_of(two_models, kind)
    model_lib.save(ours, tmp_path / "ours", arch="cnn", test_time_noise_db=20.0)
    model_lib.save(other, tmp_path / "other", arch=arch, prosody_scale=scale)
    meta = model_lib.save(ours, tmp_path / "blend", arch="cnn", test_time_noise_db=20.0, blend_with=(other, 0.3, scale))
    assert meta["blend"]["weight"] == 0.3 and (tmp_path / "blend" / model_lib.BLEND_FOLDER / model_lib.MODEL_FILE).is_file()
    alone, mfcc = model_lib.load(tmp_path / "ours"), model_lib.load(tmp_path / "other")
    assert mfcc.arch == arch and mfcc.needs_prosody == (kind != "seed")
    clips = [DATASETS / data["path"][i] for i in (0, len(data["path"]) - 1)]
    for backend in ("numpy", "keras"):
        blended = model_lib.load(tmp_path / "blend", backend=backend)
        assert blended.blend_weight == 0.3 and blended.blended.arch == arch
        assert blended.needs_prosody == (kind != "seed")
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


def test_a_saved_temperature_calibrates_the_final_blended_probabilities(two_models, tmp_path):
    ours, _, data, _ = two_models
    other, arch, scale = partner_of(two_models, model_lib.PARTNER)
    model_lib.save(ours, tmp_path / "plain", arch="cnn", test_time_noise_db=20.0, blend_with=(other, 0.3, scale))
    model_lib.save(ours, tmp_path / "hot", arch="cnn", test_time_noise_db=20.0, blend_with=(other, 0.3, scale),
                   temperature=2.5)
    plain, hot = model_lib.load(tmp_path / "plain"), model_lib.load(tmp_path / "hot")
    assert hot.temperature == 2.5 and hot.blended.temperature == 1.0
    # After the windows, the noisy view and the partner are combined, as neural_network.py fits it.
    inputs = [plain.clip_inputs(audio.load_audio(DATASETS / data["path"][i])) for i in (0, 7)]
    expected = model_lib.calibrate(plain.predict_inputs(inputs), 2.5)
    np.testing.assert_allclose(hot.predict_inputs(inputs), expected, atol=1e-9)
    assert (expected.argmax(1) == plain.predict_inputs(inputs).argmax(1)).all()


def test_another_model_in_the_blend_folder_is_refused(two_models, tmp_path):
    ours, seed, _, _ = two_models
    model_lib.save(ours, tmp_path / "blend", arch="cnn", blend_with=(seed, 0.2, None))
    other, _, _ = neural_network.fit("seed", *(lambda d: (d["features"][:40], d["labels"][:40]))(two_models[2]), epochs=1)
    model_lib.save(other, tmp_path / "blend" / model_lib.BLEND_FOLDER, arch="seed")  # whole and valid, but not the one
    with pytest.raises(model_lib.ModelError, match=r"mfcc: not the model .* blends in"):
        model_lib.load(tmp_path / "blend")


@pytest.mark.parametrize("kind", [model_lib.PARTNER, "seed"])
def test_every_fold_is_blended_and_its_partner_kept(small_features, tmp_path, monkeypatch, kind):
    data = load_features(small_features)
    data["augmented"] = load_companion(small_features, AUGMENTED_NAME, data)
    data["robustness"] = load_companion(small_features, ROBUSTNESS_NAME, data)
    product_recipe(monkeypatch)
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0, 0.2, 0.4))
    monkeypatch.setattr(neural_network, "BLEND_PARTNER", kind)
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)  # blended in after; tests/test_third_voice.py
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)  # the same; tests/test_fourth_voice.py
    cache = tmp_path / "cache"
    trained_on = {}  # what each partner trained on
    real_train_fold, real_fit_partner = neural_network.train_fold, neural_network.fit_partner

    def recording_train_fold(arch, data, train, held=None, seed=neural_network.SEED):
        if arch == "seed":
            trained_on[len(trained_on)] = (np.asarray(train), held)
        return real_train_fold(arch, data, train, held, seed=seed)

    def recording_fit_partner(data, idx, seed=neural_network.SEED):
        trained_on[len(trained_on)] = (np.asarray(idx), None)
        return real_fit_partner(data, idx, seed=seed)

    monkeypatch.setattr(neural_network, "train_fold", recording_train_fold)
    monkeypatch.setattr(neural_network, "fit_partner", recording_fit_partner)
    first = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)
    kept = "mfcc" if kind == "seed" else kind
    assert sorted(p.name for p in cache.iterdir()) == ["cnn-b-fold0.joblib", "cnn-b-fold6.joblib",
                                                      f"{kept}-b-fold0.joblib", f"{kept}-b-fold6.joblib"]
    r = first["b"]
    assert r["mfcc_blend"]["partner"] == kind
    assert len(r["mfcc_blend"]["weights"]) == 2 and set(r["mfcc_blend"]["weights"]) <= {0.0, 0.2, 0.4}
    assert set(r["without_mfcc_blend"]) == set(r["mfcc_alone"]) == {"all", "RAVDESS", "TESS"}
    assert set(r["robustness"]) == {"noise_20db", "noise_10db", "gain_-20db", "telephone"}
    # Each fold's partner trained on the files ours trained on: never its test speakers, nor
    # the held-out speakers its weight is chosen on.
    folds = neural_network.speaker_folds(data)
    present = set(folds.tolist())
    assert len(trained_on) == 2
    train_of = {k: train for (train, _), k in zip(trained_on.values(), (0, 6))}
    for (train, held), k in zip(trained_on.values(), (0, 6)):
        assert held is None
        assert set(folds[train]) == present - {k, neural_network.validation_fold(k, present)}
    # The blend is what the run reports: ours alone and the kept partner alone, blended by each
    # fold's weight; under a robustness condition the partner reads that condition's prosody.
    unblended = neural_network.protocol_speakers("cnn", data, log=lambda *_: None, only_folds={0, 6}, cache=cache,
                                                 settings=neural_network.run_settings("cnn", data))[1]
    start = 0
    for run, k, w in zip(unblended, (0, 6), r["mfcc_blend"]["weights"]):
        kept_run, _ = neural_network.cached_run(cache, f"{kept}-b-fold{k}", neural_network.run_settings(kind, data), None)
        test = run["test"]
        if kind == "seed":
            net, scale, prosody = neural_network.fold_model("seed", kept_run), None, {}
        else:
            net, scale = neural_network.partner_model(kept_run), kept_run["scale"]
            prosody = {None: data["prosody"][test], "telephone": data["condition_prosody"]["telephone"][test]}
            assert scale == model_lib.prosody_scale(data["prosody"][train_of[k]])
        mfcc = neural_network.predict(kind, net, [data["features"][i] for i in test], prosody=prosody.get(None), scale=scale)
        np.testing.assert_array_equal(r["idx"][start:start + len(test)], test)
        np.testing.assert_allclose(r["probs"][start:start + len(test)], model_lib.blend(run["raw"], mfcc, w), atol=1e-9)
        phone = neural_network.predict(kind, net, [data["robustness"]["telephone"][i] for i in test],
                                       prosody=prosody.get("telephone"), scale=scale)
        np.testing.assert_allclose(r["condition_probs"]["telephone"][start:start + len(test)],
                                   model_lib.blend(run["conditions"]["telephone"], phone, w), atol=1e-9)
        start += len(test)
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


def test_partner_reads_the_clips_mfcc_means_and_its_prosody_scaled_by_its_training_files(two_models, tmp_path):
    _, _, data, partner = two_models
    net = neural_network.partner_model(partner)
    path = DATASETS / data["path"][3]
    y = audio.load_audio(path)
    # The scaling is the training files' prosody: their mean and spread (a spread of 0 kept as 1).
    np.testing.assert_allclose(partner["scale"]["mean"], data["prosody"].mean(axis=0), rtol=1e-6)
    flat = np.array([[1.0] * audio.N_PROSODY, [3.0] + [1.0] * (audio.N_PROSODY - 1)], dtype=np.float32)
    assert model_lib.prosody_scale(flat)["std"] == [1.0] + [1.0] * (audio.N_PROSODY - 1)
    assert model_lib.prosody_scale(flat)["mean"][0] == 2.0
    x = model_lib.partner_input([audio.features(y)], audio.prosody(y)[None], partner["scale"])
    assert x.shape == (1, model_lib.PARTNER_INPUTS, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :audio.N_MFCC, 0], audio.mfcc(audio.features(y)).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(x[0, audio.N_MFCC:, 0], (audio.prosody(y) - np.float32(partner["scale"]["mean"]))
                               / np.float32(partner["scale"]["std"]), rtol=1e-5, atol=1e-6)
    # The saved partner predicts a file from exactly that, with either backend.
    model_lib.save(net, tmp_path / "partner", arch=model_lib.PARTNER, prosody_scale=partner["scale"])
    expected = np.asarray(net(x, training=False))[0]
    for backend in ("numpy", "keras"):
        got = model_lib.load(tmp_path / "partner", backend=backend).predict_file(path)
        np.testing.assert_allclose([got[e] for e in corpus.EMOTIONS], expected, atol=1e-6)
    # Another scaling, or another clip's prosody, changes its answer: it reads the prosody.
    loud = dict(partner["scale"], mean=[m + 3 * s for m, s in zip(partner["scale"]["mean"], partner["scale"]["std"])])
    moved = model_lib.partner_input([audio.features(y)], audio.prosody(y)[None], loud)
    assert not np.allclose(np.asarray(net(moved, training=False))[0], expected, atol=1e-4)
    # Features without prosody are refused with what to do, as are rows that do not match.
    predictor = model_lib.load(tmp_path / "partner")
    with pytest.raises(ValueError, match="prosody"):
        predictor.predict_features([audio.features(y)])
    with pytest.raises(ValueError, match="one row per clip"):
        predictor.predict_features([audio.features(y)] * 2, prosody=audio.prosody(y)[None])


@pytest.mark.parametrize("damage", [lambda s: s.pop("std"), lambda s: s["std"].pop(),
                                    lambda s: s["std"].__setitem__(0, 0.0), lambda s: s.__setitem__("mean", "x")])
def test_a_partner_without_a_valid_prosody_scaling_is_refused(two_models, tmp_path, damage):
    _, _, _, partner = two_models
    folder = tmp_path / "partner"
    model_lib.save(neural_network.partner_model(partner), folder, arch=model_lib.PARTNER, prosody_scale=partner["scale"])
    meta_path = folder / model_lib.META_FILE
    meta = json.loads(meta_path.read_text())
    damage(meta["input"]["prosody_scale"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(model_lib.ModelError, match="prosody scaling"):
        model_lib.load(folder)


def test_a_partner_is_saved_with_its_scaling_and_no_other_model_with_one(two_models, tmp_path):
    ours, _, _, partner = two_models
    with pytest.raises(ValueError, match="prosody_scale"):
        model_lib.save(neural_network.partner_model(partner), tmp_path / "p", arch=model_lib.PARTNER)
    with pytest.raises(ValueError, match="prosody_scale"):
        model_lib.save(ours, tmp_path / "o", arch="cnn", prosody_scale=partner["scale"])
    assert not (tmp_path / "p").exists() and not (tmp_path / "o").exists()


def test_changing_the_partners_code_makes_its_kept_folds_stale_and_never_ours(small_features, monkeypatch):
    data = load_features(small_features)
    before = {arch: neural_network.run_settings(arch, data) for arch in ("cnn", "seed", model_lib.PARTNER)}
    assert "prosody_sha256" in before[model_lib.PARTNER] and "prosody_sha256" not in before["cnn"]
    monkeypatch.setattr(model_lib, "partner_input", lambda feats, prosody, scale: None)
    after = {arch: neural_network.run_settings(arch, data) for arch in before}
    assert after["cnn"] == before["cnn"] and after["seed"] == before["seed"]
    assert after[model_lib.PARTNER]["code_sha256"] != before[model_lib.PARTNER]["code_sha256"]
    # Other prosody (here one clip's, changed) is other data for the partner, not for ours.
    data["prosody"] = data["prosody"].copy()
    data["prosody"][0, 0] += 1.0
    assert neural_network.run_settings("cnn", data) == before["cnn"]
    assert neural_network.run_settings(model_lib.PARTNER, data)["prosody_sha256"] != before[model_lib.PARTNER]["prosody_sha256"]
