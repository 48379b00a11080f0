"""The exported NumPy copy of the model: same probabilities as Keras, refused when stale, no Keras import."""

import json
import subprocess
import sys

import numpy as np
import pytest

import audio
import corpus
import model as model_lib
import neural_network
import numpy_model
from conftest import DATASETS, REPO, needs_data, run_script
from create_features import load_features

EXAMPLE = REPO / "examples" / "03-01-05-02-01-01-13.wav"
# Probabilities of the exported copy and of Keras must agree to this (issue 5).
ATOL = 1e-5


def real_clip_features(data, n=12):
    """Features of real corpus clips spread over the subset, plus one long clip (several windows)."""
    idx = np.linspace(0, len(data["path"]) - 1, n).astype(int)
    feats = [audio.file_features(DATASETS / data["path"][i]) for i in idx]
    feats.append(np.concatenate(feats[:4]))  # about 12 s: predicted window by window
    return feats


@needs_data
@pytest.mark.parametrize("arch", model_lib.ARCHITECTURES)
def test_exported_copy_predicts_what_keras_predicts(small_features, tmp_path, arch):
    data = load_features(small_features)
    net, _, _ = neural_network.fit(arch, data["features"], data["labels"], epochs=1)
    meta = model_lib.save(net, tmp_path / "model", arch=arch)
    assert meta["export"], f"model.build({arch!r}) has a layer numpy_model.py cannot export yet"
    assert meta["export"]["sha256"] == model_lib._sha256(tmp_path / "model" / numpy_model.EXPORT_FILE)
    assert meta["export"]["keras_sha256"] == meta["keras_sha256"]
    fast, slow = model_lib.load(tmp_path / "model"), model_lib.load(tmp_path / "model", backend="keras")
    assert (fast.backend, slow.backend) == ("numpy", "keras") and fast.keras_model is None
    feats = real_clip_features(data)
    p_fast, p_slow = fast.predict_features(feats), slow.predict_features(feats)
    np.testing.assert_allclose(p_fast, p_slow, rtol=0, atol=ATOL)
    assert p_slow.std(axis=1).min() > 1e-3  # a real, non-uniform prediction was compared
    # One clip at a time gives the same as the batch, to float32 rounding: BLAS multiplies a batch
    # as matrices and one clip as a vector, summing in another order (1.3e-6 apart seen with
    # OpenBLAS on one thread).
    one = np.array([fast.predict_features([f])[0] for f in feats[:3]])
    np.testing.assert_allclose(one, p_fast[:3], rtol=0, atol=ATOL)


def every_layer_model():
    """A functional model using every layer the export supports, with non-trivial weights.

    Returns (probabilities model, logits model); the two share their layers.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inp = keras.Input((model_lib.N_FRAMES, audio.N_MELS))
    x = layers.Conv1D(16, 5, padding="same", activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.SpatialDropout1D(0.2)(x)
    x = layers.MaxPooling1D(3, strides=2, padding="same")(x)            # odd sizes, 'same'
    y = layers.Conv1D(16, 3, padding="causal", dilation_rate=2)(x)
    y = layers.ReLU(max_value=4.0, negative_slope=0.1)(y)
    x = layers.Add()([x, y])
    x = layers.Conv1D(24, 4, strides=2, padding="valid", groups=2)(x)
    x = layers.Activation("tanh")(x)
    x = layers.AveragePooling1D(3, strides=2, padding="same")(x)
    x = layers.LayerNormalization()(x)
    x = layers.Conv1D(8, 3, strides=2, padding="same", activation="elu")(x)   # odd length, strided
    x = layers.AveragePooling1D(2)(x)
    x = layers.Permute((2, 1))(layers.Reshape((x.shape[1], 8))(layers.Permute((2, 1))(x)))
    avg, mx = layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)  # two-branch pooling
    flat = layers.Flatten()(layers.MaxPooling1D(8)(x))
    # A 2-D branch: Conv2D and the 2-D poolings over (frames, bands), odd sizes and both paddings.
    z = layers.Reshape((model_lib.N_FRAMES, audio.N_MELS, 1))(inp)
    z = layers.Conv2D(6, (3, 5), strides=(2, 1), padding="same", activation="relu")(z)
    z = layers.BatchNormalization()(z)
    z = layers.MaxPooling2D((3, 2), strides=(2, 2), padding="same")(z)
    z = layers.Conv2D(4, (2, 3), dilation_rate=(1, 2), padding="valid", use_bias=False)(z)
    z = layers.AveragePooling2D((3, 2), strides=(2, 1), padding="same")(z)
    z = layers.MaxPooling2D((1, 4))(z)
    z = layers.Reshape((z.shape[1], z.shape[2] * z.shape[3]))(z)
    x = layers.Concatenate()([avg, mx, flat, layers.GlobalAveragePooling1D()(z)])
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(32, activation="swish")(x)
    x = layers.Activation("gelu")(layers.Dense(32, activation="mish")(x))
    x = layers.Dense(32, activation="hard_silu")(x)
    logits = layers.Dense(len(corpus.EMOTIONS))(x)
    probs = layers.Softmax()(logits)
    # BatchNormalization statistics far from their initial values, so the folding is exercised.
    rng = np.random.default_rng(0)
    for layer in (l for l in keras.Model(inp, probs).layers if type(l).__name__ == "BatchNormalization"):
        n = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 1, n), rng.normal(0, 0.5, n),
                           rng.uniform(0.2, 3, n)])
    return keras.Model(inp, probs), keras.Model(inp, logits)


@needs_data
def test_export_of_every_supported_layer_matches_keras(small_features, tmp_path):
    data = load_features(small_features)
    x = model_lib.cnn_input(real_clip_features(data)[:10])
    probs_model, logits_model = every_layer_model()
    for name, m in (("probs", probs_model), ("logits", logits_model)):
        numpy_model.export(m, tmp_path / f"{name}.npz", keras_sha256="test")
        got = numpy_model.NumpyModel.read(tmp_path / f"{name}.npz")(x)
        want = np.asarray(m(x, training=False))
        assert got.shape == want.shape
        if name == "logits":
            assert want.std() > 0.1
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        else:
            np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


@needs_data
def test_every_tower_exports_and_predicts_what_keras_predicts(small_features, tmp_path, monkeypatch):
    # Every tower build knows, untrained but with its BatchNormalization statistics moved, in one
    # model; the mel-axis convolution of "f40" is a Conv2D over (frames, bands).
    monkeypatch.setattr(model_lib, "CNN_TOWERS", tuple(model_lib.TOWERS))
    net = model_lib.ensemble(model_lib.build("cnn"))
    rng = np.random.default_rng(1)
    for layer in (l for l in net.layers if type(l).__name__ == "BatchNormalization"):
        n = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n), rng.normal(0, 0.2, n),
                           rng.uniform(0.5, 2, n)])
    x = model_lib.cnn_input(real_clip_features(load_features(small_features))[:6])
    numpy_model.export(net, tmp_path / "towers.npz", keras_sha256="test")
    copy = numpy_model.NumpyModel.read(tmp_path / "towers.npz")
    assert {"Conv2D", "Pool2D", "Conv1D"} <= {spec["kind"] for spec in copy.layers}
    got = copy(x)
    want = np.asarray(net(x, training=False))
    assert want.std(axis=1).min() > 1e-3
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def test_sequential_seed_model_and_unsupported_layer(tmp_path):
    import keras
    from keras import layers

    net = model_lib.build("seed")
    x = np.random.default_rng(1).normal(0, 30, (5, audio.N_MFCC, 1)).astype(np.float32)
    numpy_model.export(net, tmp_path / "seed.npz", keras_sha256="test")
    np.testing.assert_allclose(numpy_model.NumpyModel.read(tmp_path / "seed.npz")(x),
                               np.asarray(net(x)), rtol=0, atol=ATOL)
    odd = keras.Sequential([keras.Input((10, 4)), layers.UpSampling1D(2), layers.Flatten(),
                            layers.Dense(8, activation="softmax")])
    with pytest.raises(numpy_model.ExportError, match="up_sampling1d.*UpSampling1D.*not supported"):
        numpy_model.export(odd, tmp_path / "odd.npz", keras_sha256="test")
    # Saving such a model still works: no copy is recorded, and load uses Keras.
    meta = model_lib.save(odd, tmp_path / "odd_model", arch="seed")
    assert meta["export"] is None


@pytest.mark.parametrize("damage, problem", [
    ("stale", "stale, made from another emotion_model.keras"),
    ("changed", "does not match emotion_model.json"),
    ("missing", "missing"),
    ("not_npz", "does not match emotion_model.json"),
])
def test_stale_or_damaged_copy_is_refused_in_one_line(model_copy, damage, problem):
    meta_path, npz = model_copy / model_lib.META_FILE, model_copy / numpy_model.EXPORT_FILE
    meta = json.loads(meta_path.read_text())
    if damage == "stale":  # the .keras was replaced (e.g. retrained by code that left the copy alone)
        net = model_lib.ensemble(model_lib.build(meta["architecture"]))
        net.save(model_copy / model_lib.MODEL_FILE)
        meta["keras_sha256"] = model_lib._sha256(model_copy / model_lib.MODEL_FILE)
        meta_path.write_text(json.dumps(meta))
    elif damage == "changed":
        z = dict(np.load(npz))
        key = next(k for k in z if k.startswith("w/"))
        z[key] = z[key] * 1.01
        np.savez(npz, **z)
    elif damage == "missing":
        npz.unlink()
    elif damage == "not_npz":
        npz.write_bytes(b"not a zip")
    with pytest.raises(model_lib.ModelError, match=problem):
        model_lib.load(model_copy)
    result = run_script("live_predictions.py", "--model-dir", model_copy, EXAMPLE)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {npz}") and problem in lines[0]
    assert "numpy_model.py --model-dir" in lines[0]
    # The Keras model stays usable, and re-exporting makes the fast path work again.
    if damage != "stale":
        assert model_lib.load(model_copy, backend="keras").predict_file(EXAMPLE)
    assert run_script("numpy_model.py", "--model-dir", model_copy).returncode == 0
    assert model_lib.load(model_copy).backend == "numpy"


def test_shipped_model_has_a_fresh_copy_equal_to_keras():
    fast, slow = model_lib.load(REPO / "model"), model_lib.load(REPO / "model", backend="keras")
    assert fast.backend == "numpy"
    clips = sorted((REPO / "examples").glob("*.wav"))
    feats = [audio.file_features(c) for c in clips]
    prosody = np.stack([audio.prosody(audio.load_audio(c)) for c in clips])  # the partner reads it
    functionals = np.stack([audio.functionals(audio.load_audio(c)) for c in clips])  # the third voice
    embedded = np.stack([fast.embedder.embed(audio.load_audio(c)) for c in clips])  # the fourth voice
    np.testing.assert_allclose(fast.predict_features(feats, prosody=prosody, functionals=functionals, embeddings=embedded),
                               slow.predict_features(feats, prosody=prosody, functionals=functionals, embeddings=embedded),
                               rtol=0, atol=ATOL)


def test_fast_path_imports_neither_keras_nor_librosa():
    # Of SciPy, only scipy.fft (and what it needs): audio.yin's FFTs, rounded as librosa's are.
    code = ("import sys, live_predictions; rc = live_predictions.main([sys.argv[1]]); "
            "heavy = {'keras', 'tensorflow', 'librosa', 'sklearn', 'joblib', 'numba', 'scipy.signal', "
            "'scipy.stats', 'scipy.ndimage', 'scipy.sparse', 'scipy.linalg', 'scipy.interpolate'}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or '.'.join(m.split('.')[:2]) in heavy)); "
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "examples/03-01-05-02-01-01-13.wav: " in result.stdout
