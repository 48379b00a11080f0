"""The third voice: each clip's functionals (audio.functionals), the logistic regression on them that
neural_network.py trains, chooses and ships, and the model folder's copy of it that Predictor blends
in last; on real files."""

import json

import numpy as np
import pytest

import audio
import corpus
import model as model_lib
import neural_network
from conftest import REPO, assert_last_voice_blended, copy_folds, needs_data, real_file
from create_features import load_features


def test_delta_and_rasta_on_known_columns():
    t = np.arange(50, dtype=float)
    x = np.stack([np.full(50, 7.0), 0.5 * t], axis=1)
    d = audio.delta(x)
    assert np.allclose(d[:, 0], 0.0)
    assert np.allclose(d[2:-2, 1], 0.5)  # a ramp's slope, away from the repeated edges
    r = audio.rasta(x)
    assert np.allclose(r[:, 0], 0.0)  # a constant level (a microphone's gain) gives nothing
    assert abs(r[-1, 1]) > 0.5  # a steady rise passes


def test_functionals_of_are_the_textbook_statistics():
    # functionals_of takes its percentiles from one sort and its moments from products, for speed;
    # here they are checked against NumPy's and SciPy's own, on odd and even lengths and on ties.
    from scipy import stats

    rng = np.random.default_rng(0)
    for x in (rng.normal(size=(391, 5)) * [1, 3, 0.1, 10, 2], rng.gamma(2.0, size=(40, 3)),
              rng.integers(0, 4, size=(7, 2)).astype(float), np.arange(2.0)[:, None]):
        n, d = x.shape
        f = audio.functionals_of(x, rate=100.0).reshape(len(audio.FUNCTIONALS), d)
        got = dict(zip(audio.FUNCTIONALS, f))
        assert np.allclose(got["mean"], x.mean(axis=0)) and np.allclose(got["std"], x.std(axis=0))
        for q in audio.PERCENTILES:
            assert np.allclose(got[f"p{q}"], np.percentile(x, q, axis=0), rtol=1e-12, atol=1e-12)
        assert np.allclose(got["p90-p10"], np.percentile(x, 90, axis=0) - np.percentile(x, 10, axis=0))
        varies = x.std(axis=0) > 1e-6
        assert np.allclose(got["skewness"][varies], stats.skew(x[:, varies], axis=0))
        assert np.allclose(got["kurtosis"][varies], stats.kurtosis(x[:, varies], axis=0))
        slope = [np.polyfit(np.arange(n) / 100.0, x[:, j], 1)[0] for j in range(d)]
        assert np.allclose(got["slope"], slope)
        assert np.allclose(got["mean_abs_change"], np.abs(np.diff(x, axis=0)).mean(axis=0))
    # A column that never changes has no shape: skewness and excess kurtosis 0, not NaN.
    flat = audio.functionals_of(np.full((10, 1), 3.0), rate=100.0)
    assert np.isfinite(flat).all() and flat[2] == 0.0 and flat[3] == 0.0


@needs_data
def test_the_mel_power_taken_once_gives_the_same_features_and_functionals():
    # create_features.clip_features and Predictor.clip_inputs take a clip's mel power once for its
    # features and its functionals; each must be what it is when taken alone, to the bit.
    y = audio.load_audio(real_file("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac"))
    y = np.concatenate([np.zeros(4000, np.float32), y])  # a pause to trim first
    power = audio.frame_power(y)
    mel = audio.clip_mel(y, power=power)
    assert mel.shape == audio.features(y).shape and mel.dtype == np.float32
    np.testing.assert_array_equal(audio.features(y, power=power, mel=mel), audio.features(y))
    np.testing.assert_array_equal(audio.features(y), audio.log_mel(audio.trim_silence(y)))
    np.testing.assert_array_equal(audio.functionals(y, power=power, mel=mel), audio.functionals(y))
    import create_features
    feats, prosody, functionals = create_features.clip_features(y)
    np.testing.assert_array_equal(feats, audio.features(y))
    np.testing.assert_array_equal(functionals, audio.functionals(y))
    np.testing.assert_array_equal(prosody, audio.prosody(y))
    # Someone else's mel power is used as given (so it must be this clip's).
    assert not np.array_equal(audio.features(y, mel=mel * 4.0), audio.features(y))


@needs_data
def test_functionals_are_finite_blind_to_gain_and_end_with_the_prosody():
    n = len(audio.FUNCTIONALS)
    for rel in ("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac", "TESS/OAF_angry/OAF_back_angry.flac",
                "RAVDESS/Actor_24/03-01-03-02-02-02-24.flac"):
        y = audio.load_audio(real_file(rel))
        f = audio.functionals(y)
        assert f.shape == (audio.N_FUNCTIONALS,) == ((163 + 4 + 1) * n + audio.N_PROSODY,)
        assert np.isfinite(f).all() and f.std() > 0
        # Its last numbers are the prosody the partner reads, bit for bit (Predictor takes them there).
        assert np.array_equal(f[-audio.N_PROSODY:], audio.prosody(y))
    y = audio.load_audio(real_file("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac"))
    f = audio.functionals(y)
    # The voiced-frame descriptors are there: the clip is voiced, so their block is not all zero.
    assert np.abs(f[163 * n:167 * n]).max() > 0
    quieter = audio.functionals(y * 0.25)  # 12 dB down, far above the power floor
    assert np.mean(np.isclose(f, quieter, rtol=1e-3, atol=1e-3)) > 0.99
    # A clip too short to be voiced has zeros there, and still the right shape.
    short = audio.functionals(y[:2000])
    assert short.shape == f.shape and np.isfinite(short).all()


def test_each_folds_penalty_is_chosen_without_its_own_rows():
    rng = np.random.default_rng(0)
    folds = np.repeat([0, 1, 2, 3], 40)
    labels = np.tile(np.arange(4), 40)
    x = rng.normal(size=(160, 12))
    x[:, :4] += 1.5 * np.eye(4)[labels]
    choosers = folds < 3  # fold 3 stands for a TESS voice: it never chooses
    logs = []
    neural_network.choose_third_voice_c(x, labels, folds, choosers, grid=(0.01, 1.0), log=logs.append)
    # Fold 0's rows replaced by noise with other labels: fold 0's own counts must not move.
    x2, labels2 = x.copy(), labels.copy()
    x2[folds == 0] = rng.normal(size=(40, 12))
    labels2[folds == 0] = 3
    logs2 = []
    neural_network.choose_third_voice_c(x2, labels2, folds, choosers, grid=(0.01, 1.0), log=logs2.append)
    fold0 = next(line for line in logs if line.startswith("  fold 0:"))
    assert fold0 == next(line for line in logs2 if line.startswith("  fold 0:"))
    # ... while a fold that chooses on fold 0's actors sees the change.
    assert next(line for line in logs if line.startswith("  fold 1:")) != \
        next(line for line in logs2 if line.startswith("  fold 1:"))
    assert len(logs) == 4  # every fold gets a C, the TESS one too


def test_the_last_voices_classifiers_train_with_blas_on_the_threads_set_for_them(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    seen = []  # the BLAS threads each classifier's fit began on
    real = neural_network.third_voice_classifier

    def noting(c):  # the real classifier, its fit noting the BLAS threads first
        classifier = real(c)
        fit = classifier.fit

        def noted(*args, **kwargs):
            seen.append(blas_threads())
            return fit(*args, **kwargs)

        classifier.fit = noted
        return classifier

    monkeypatch.setattr(neural_network, "third_voice_classifier", noting)
    rng = np.random.default_rng(2)
    folds = np.repeat([0, 1, 2], 30)
    labels = np.tile(np.arange(3), 30)
    x = rng.normal(size=(90, 6)) + np.eye(3, 6)[labels]
    # The tests run BLAS on one thread (conftest.py); two here, as a machine with two cores does.
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == 2
        neural_network.choose_third_voice_c(x, labels, folds, folds < 3, grid=(0.1,), log=lambda line: None)
        trained = neural_network.third_voice_folds(x, labels, folds, {0: 0.1, 1: 0.1, 2: 0.1})
        assert blas_threads() == 2  # given back after each fit
        assert len(seen) == 3 + 3 and set(seen) == {neural_network.LAST_VOICES_BLAS_THREADS} == {1}
        seen.clear()
        monkeypatch.setattr(neural_network, "LAST_VOICES_BLAS_THREADS", None)  # no limit: as BLAS is
        neural_network.fit_last_voice(0.1, x, labels)
        assert seen == [2]
    assert np.mean(neural_network.fold_probs(trained, x, folds).argmax(1) == labels) > 0.5


def test_the_shipped_weight_is_chosen_on_every_row_and_the_shipped_c_by_most_folds():
    rng = np.random.default_rng(1)
    labels = np.tile(np.arange(8), 30)
    folds = np.repeat([0, 1, 2], 80)
    run = rng.dirichlet(np.ones(8), size=240)
    other = np.eye(8)[labels] * 0.9 + 0.0125  # a voice that is always right
    everyone = np.ones(240, dtype=bool)
    per_fold = neural_network.choose_third_voice_weights(run, other, labels, folds, everyone)
    shipped = neural_network.choose_third_voice_weights(run, other, labels, folds, everyone, every=True)
    assert set(per_fold) == {0, 1, 2}
    assert shipped > 0 and all(w > 0 for w in per_fold.values())
    assert shipped in neural_network.THIRD_VOICE_WEIGHTS
    # A voice that is always wrong is never blended in.
    wrong = np.eye(8)[(labels + 1) % 8] * 0.9 + 0.0125
    assert neural_network.choose_third_voice_weights(run, wrong, labels, folds, everyone, every=True) == 0.0
    # With no other fold's rows to choose on, no blend.
    assert neural_network.choose_third_voice_weights(run, other, labels, np.zeros(240, int), everyone) == {0: 0.0}
    assert neural_network.shipped_third_voice_c({0: 0.001, 1: 0.01, 2: 0.01, 3: 0.001}) == 0.001
    assert neural_network.shipped_third_voice_c({0: 0.001, 1: 0.01, 2: 0.01}) == 0.01


def test_the_kept_folds_of_our_model_and_the_partner_do_not_hash_the_third_voice(monkeypatch):
    data = {"prosody": np.zeros((2, audio.N_PROSODY), np.float32), "condition_prosody": {}}

    def hashes():
        return [neural_network.run_settings(a, data, data_digest="x")["code_sha256"]
                for a in ("cnn", model_lib.PARTNER)]

    before = hashes()
    monkeypatch.setattr(model_lib, "THIRD_VOICE_FILE", "elsewhere.npz")
    assert hashes() == before
    monkeypatch.setattr(model_lib, "N_FRAMES", model_lib.N_FRAMES + 1)  # a name that trains does count
    assert all(a != b for a, b in zip(hashes(), before))


def assert_made_in_another_process(stored, fresh):
    """create_features.py computes in worker processes, whose BLAS may run on another number of
    threads than this one's (loky gives each a share of the cores), which sums in another order:
    the stored numbers equal those made here to float32 rounding (seen: 2.7e-5 apart at most), not
    always bit for bit."""
    np.testing.assert_allclose(stored, fresh, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def trained_third_voice(small_features):
    """The small subset's features and a third voice trained on them (its export, as model.save
    takes it)."""
    data = load_features(small_features)
    classifier = neural_network.third_voice_classifier(0.001).fit(data["functionals"], data["labels"])
    return data, classifier, neural_network.third_voice_export(classifier, 0.001, 0.25)


def test_the_features_file_holds_every_files_functionals_under_every_condition(trained_third_voice):
    data, _, _ = trained_third_voice
    assert data["functionals"].shape == (len(data["path"]), audio.N_FUNCTIONALS)
    assert set(data["condition_functionals"]) == set(data["condition_prosody"]) and data["condition_functionals"]
    y = audio.load_audio(real_file(data["path"][3]))
    assert_made_in_another_process(data["functionals"][3], audio.functionals(y))
    # The telephone band changes what the functionals see.
    assert not np.allclose(data["condition_functionals"]["telephone"][3], data["functionals"][3])


def test_the_augmented_copies_functionals_are_stored_beside_their_frames(small_features):
    import augment
    from create_features import AUGMENTED_NAME, FeaturesError, load_companion

    data = load_features(small_features)
    aug = load_companion(small_features, AUGMENTED_NAME, data)
    assert aug["functionals"].shape == (len(aug["source"]), audio.N_FUNCTIONALS) and len(aug["source"]) > 0
    # Row j is the functionals of the copy whose frames are aug["augmented"][j], made afresh here.
    j = 5
    i, copy = int(aug["source"][j]), j % (len(aug["source"]) // len(data["path"]))
    y = audio.load_audio(real_file(data["path"][i]))
    z = augment.augment(y, np.random.default_rng(augment.seed_for(data["path"][i], copy)))
    assert_made_in_another_process(aug["functionals"][j], audio.functionals(z))
    # Stored as float16: one step of its rounding (2**-10 relative) may differ, no more.
    np.testing.assert_allclose(aug["augmented"][j].astype(np.float32), audio.features(z), rtol=2**-10, atol=1e-3)
    # The stored prosody is the functionals' last numbers, as the prediction path takes it.
    np.testing.assert_array_equal(data["prosody"], data["functionals"][:, -audio.N_PROSODY:])
    # Functionals made with other settings are refused, naming the file.
    import joblib

    stored = joblib.load(small_features.parent / AUGMENTED_NAME)
    other = small_features.parent.parent / "other" / small_features.name
    other.parent.mkdir()
    joblib.dump({**stored, "functionals_params": {**stored["functionals_params"], "percentiles": [5, 50]}},
                other.parent / AUGMENTED_NAME)
    with pytest.raises(FeaturesError, match=f"{AUGMENTED_NAME}.*other settings") as err:
        load_companion(other, AUGMENTED_NAME, data)
    assert "\n" not in str(err.value)


def test_training_refuses_copies_without_functionals_before_it_trains(small_features, tmp_path, capsys):
    import shutil

    import joblib

    from create_features import AUGMENTED_NAME

    # Features made before the copies' functionals were stored: refused at once, in one line.
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(small_features, folder / small_features.name)
    stored = joblib.load(small_features.parent / AUGMENTED_NAME)
    joblib.dump({k: v for k, v in stored.items() if k not in ("functionals", "functionals_params")},
                folder / AUGMENTED_NAME)
    args = ["--features", str(folder / small_features.name), "--no-ship", "--protocols", "b", "--baseline", "none"]
    assert neural_network.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert AUGMENTED_NAME in err and "create_features.py" in err and "\n" not in err
    assert not list(folder.glob("*.tmp*"))


def test_the_third_voice_learns_from_the_copies_of_its_training_files_only(small_features, monkeypatch):
    data = neural_network.load_data(small_features)
    files = np.flatnonzero(neural_network.speaker_folds(data) != 0)
    monkeypatch.setattr(neural_network, "THIRD_VOICE_AUGMENTED", False)
    x, labels, source = neural_network.third_voice_rows(data, files)
    assert len(x) == len(files)  # off: the files alone
    clean = neural_network.third_voice_settings(data, "third-voice-b")
    assert "augmented" not in clean  # the classifiers kept before the copies existed stay valid
    monkeypatch.setattr(neural_network, "THIRD_VOICE_AUGMENTED", True)
    x, labels, source = neural_network.third_voice_rows(data, files)
    aug = data["augmented"]
    copies = len(aug["source"]) // len(data["labels"])
    assert len(x) == len(files) * (1 + copies)
    np.testing.assert_array_equal(source[:len(files)], files)
    assert set(source[len(files):]) == set(files)  # no copy of a fold-0 file
    np.testing.assert_array_equal(labels, data["labels"][source])
    np.testing.assert_array_equal(x[len(files):], aug["functionals"][np.isin(aug["source"], files)])
    assert neural_network.third_voice_settings(data, "third-voice-b", augmented=True)["data_sha256"] != \
        clean["data_sha256"]
    # Features made before the copies' functionals were stored: one line that says what to do.
    with pytest.raises(neural_network.FeaturesError, match="create_features.py"):
        neural_network.third_voice_rows({**data, "augmented": {**aug, "functionals": None}}, files)
    # Features made without copies (create_features.py --augment 0): the files alone.
    x, labels, source = neural_network.third_voice_rows({**data, "augmented": None}, files)
    np.testing.assert_array_equal(source, files)


def test_a_saved_third_voice_predicts_as_trained_and_is_blended_in_last(trained_third_voice, tmp_path):
    data, classifier, export = trained_third_voice
    shipped = model_lib.load(REPO / "model", backend="keras")
    shipped.third_voice = shipped.fourth_voice = None  # the shipped model's Keras parts alone
    folder = tmp_path / "model"
    blended = shipped.blended
    model_lib.save(shipped.keras_model, folder, arch=shipped.arch, temperature=shipped.temperature,
                   test_time_noise_db=shipped.noise_db, test_time_warps=shipped.warps,
                   blend_with=(blended.keras_model, shipped.blend_weight, blended.prosody_scale),
                   third_voice=export)
    assert (folder / model_lib.THIRD_VOICE_FILE).is_file()
    predictor = model_lib.load(folder)
    assert predictor.needs_functionals and predictor.third_weight == 0.25
    # Its NumPy copy gives the scikit-learn classifier's probabilities.
    x = data["functionals"][:20]
    np.testing.assert_allclose(predictor.third_voice_probs(x), classifier.predict_proba(x), atol=1e-5)
    # A prediction is the model without it, blended with it at its weight, last.
    path = real_file(data["path"][0])
    y = audio.load_audio(path)
    views, prosody, functionals, embedded = predictor.clip_inputs(y)
    assert embedded is None  # no fourth voice saved
    np.testing.assert_array_equal(functionals, audio.functionals(y))
    without = shipped.predict_inputs([shipped.clip_inputs(y)])
    expected = model_lib.blend(without, predictor.third_voice_probs(functionals[None]), 0.25)[0]
    got = predictor.predict_file(path)
    np.testing.assert_allclose([got[e] for e in corpus.EMOTIONS], expected, atol=1e-5)
    with pytest.raises(ValueError, match="functionals"):
        predictor.predict_features([views], prosody=prosody[None])


def test_a_damaged_or_mismatched_third_voice_is_refused_in_one_line(trained_third_voice, tmp_path):
    _, _, export = trained_third_voice
    shipped = model_lib.load(REPO / "model", backend="keras")
    folder = tmp_path / "model"
    model_lib.save(shipped.keras_model, folder, arch=shipped.arch, third_voice=export)
    model_lib.load(folder)
    # Its arrays changed after saving: the hash in the metadata no longer matches.
    path = folder / model_lib.THIRD_VOICE_FILE
    original = path.read_bytes()
    path.write_bytes(original[:-10] + b"0123456789")
    with pytest.raises(model_lib.ModelError, match=model_lib.THIRD_VOICE_FILE) as err:
        model_lib.load(folder)
    assert "\n" not in str(err.value)
    path.unlink()
    with pytest.raises(model_lib.ModelError, match="missing"):
        model_lib.load(folder)
    path.write_bytes(original)
    # Trained on functionals with other settings than the front end's now.
    meta_path = folder / model_lib.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["third_voice"]["functionals"]["percentiles"] = [5, 50, 95]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(model_lib.ModelError, match="other settings"):
        model_lib.load(folder)
    # A weight outside (0, 1) is never saved.
    with pytest.raises(ValueError, match="weight"):
        model_lib.save(shipped.keras_model, tmp_path / "other", arch=shipped.arch, third_voice={**export, "weight": 0.0})
    assert not (tmp_path / "other").exists()


def test_each_fold_blends_in_last_a_third_voice_that_never_heard_its_speakers(small_features, one_epoch_folds,
                                                                               tmp_path, monkeypatch):
    data = neural_network.load_data(small_features)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))  # ours alone before it
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    monkeypatch.setattr(neural_network, "THIRD_VOICE_AUGMENTED", False)  # first trained on the files alone
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)  # blended in after; tests/test_fourth_voice.py
    # Two Cs to choose from and 100 iterations a fit: what is tested is how each fold chooses and
    # blends, not the grid's reach or the fit's convergence (the script's own run, with the whole
    # grid, is tests/test_pipeline.py's end-to-end test).
    grid = (0.001, 0.01)
    monkeypatch.setitem(neural_network.choose_third_voice_c.__kwdefaults__, "grid", grid)
    monkeypatch.setitem(neural_network.THIRD_VOICE_LR, "max_iter", 100)
    cache = copy_folds(one_epoch_folds, tmp_path / "cache", (0, 6))  # our network's folds, kept
    r = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)["b"]
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)
    plain = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)["b"]
    np.testing.assert_array_equal(r["idx"], plain["idx"])
    assert r["without_third_voice"] == plain["scores"] and "third_voice" not in plain
    third = r["third_voice"]
    assert len(third["c"]) == 2 and set(third["c"]) <= set(grid)
    # Each fold's third voice: trained on every other fold's files (all of the subset's folds, not
    # only those run), at the C that fold chose, so never on its own speakers; its weight chosen on
    # the other fold's files (each corpus counting the same); blended in last, on the clean files
    # and under every robustness condition alike.
    assert_last_voice_blended(data, r, plain, third, data["functionals"],
                              data["condition_functionals"]["telephone"], (0, 6))
    x, labels, folds, idx = data["functionals"], data["labels"], neural_network.speaker_folds(data), r["idx"]
    # Trained on the copies too: each fold's classifier learns from the other folds' files and
    # their copies at the C its clean classifier chose, kept apart from the clean one.
    monkeypatch.setattr(neural_network, "THIRD_VOICE", True)
    monkeypatch.setattr(neural_network, "THIRD_VOICE_AUGMENTED", True)
    r2 = neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)["b"]
    assert (cache / "third-voice-b.joblib").is_file() and (cache / "third-voice-b-augmented.joblib").is_file()
    assert r2["third_voice"]["c"] == third["c"]
    aug = data["augmented"]
    for k, c, w in zip((0, 6), r2["third_voice"]["c"], r2["third_voice"]["weights"]):
        train = np.concatenate([np.flatnonzero(folds != k), aug["source"][folds[aug["source"]] != k]])
        xs = np.concatenate([x[folds != k], aug["functionals"][folds[aug["source"]] != k]])
        clf = neural_network.third_voice_classifier(c).fit(xs, labels[train])
        rows = folds[idx] == k
        np.testing.assert_allclose(r2["probs"][rows],
                                   model_lib.blend(plain["probs"][rows], clf.predict_proba(x[idx[rows]]), w),
                                   atol=1e-6)
    assert r2["without_third_voice"] == plain["scores"]
