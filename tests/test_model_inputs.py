"""The cnn model's input: normalisation, training-time warps and mixup, on real corpus clips."""

import numpy as np
import pytest

import audio
import corpus
import model as model_lib
import neural_network
from conftest import DATASETS, needs_data

# Every test here reads the corpora.
pytestmark = needs_data

CLIP = DATASETS / "RAVDESS" / "Actor_01" / "03-01-05-02-01-01-01.flac"  # angry, strong


@pytest.fixture(scope="module")
def feats():
    return audio.file_features(CLIP)


def test_utterance_normalisation_removes_gain_but_keeps_spectral_shape(feats):
    louder = feats + 20.0  # +20 dB
    utt = model_lib.normalise(feats, "utterance")
    np.testing.assert_allclose(model_lib.normalise(louder, "utterance"), utt, atol=1e-4)
    assert abs(float(utt.mean())) < 1e-4 and abs(float(utt.std()) - 1) < 1e-2
    # The long-term spectrum survives: low bands of speech are louder than the top bands.
    assert utt[:, :16].mean() > utt[:, -16:].mean() + 0.3
    band = model_lib.normalise(feats, "band")
    np.testing.assert_allclose(band.mean(axis=0), 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="unknown normalisation"):
        model_lib.normalise(feats, "speaker")


def test_dynamic_range_floor_hides_only_what_lies_below_it(feats):
    floor = feats.max() - 60.0
    deep = feats < floor
    assert 0.05 < deep.mean() < 0.5  # a clean studio clip has valleys below the floor
    deeper = np.where(deep, feats - 30.0, feats)  # its valleys 30 dB deeper, its speech the same
    floored = model_lib.normalise(feats, range_db=60.0)
    np.testing.assert_allclose(model_lib.normalise(deeper, range_db=60.0), floored, atol=1e-5)
    assert np.abs(model_lib.normalise(deeper) - model_lib.normalise(feats)).max() > 0.5
    # Every value below the floor becomes the floor; the order of the rest is kept.
    np.testing.assert_allclose(floored[deep], floored.min(), atol=1e-5)
    assert np.all(floored[~deep] > floored.min())
    np.testing.assert_allclose(model_lib.normalise(feats, range_db=1000.0), model_lib.normalise(feats))


def test_predictor_uses_the_normalisation_saved_with_the_model(feats):
    seen = []

    def net(batch, training=False):
        seen.append(batch)
        return np.full((len(batch), 8), 1 / 8)

    base = {k: v for k, v in model_lib.input_meta().items() if k != "dynamic_range_db"}
    for how in model_lib.NORMALISATIONS:
        for range_db in (None, 40.0):
            meta = {"emotions": list(range(8)), "architecture": "cnn",
                    "input": {**base, "normalisation": how, "dynamic_range_db": range_db}}
            model_lib.Predictor(None, meta, net=net).predict_features([feats])
            expected = np.stack(model_lib.windows(model_lib.normalise(feats, how, range_db=range_db)))
            np.testing.assert_allclose(seen[-1], expected)
    assert all(not np.allclose(a, b) for i, a in enumerate(seen) for b in seen[i + 1:])
    # A model saved before the floor existed has no dynamic_range_db: its inputs keep every value.
    model_lib.Predictor(None, {"emotions": list(range(8)), "architecture": "cnn", "input": base},
                        net=net).predict_features([feats])
    np.testing.assert_allclose(seen[-1], seen[0])


def _centroid(f):
    power = 10.0 ** (f / 10.0)
    return float((power * np.arange(f.shape[1])).sum() / power.sum())


def test_warp_moves_the_spectrum_and_stretch_changes_the_length(feats):
    np.testing.assert_allclose(model_lib.warp_bands(feats, 1.0), feats, atol=1e-5)
    up, down = model_lib.warp_bands(feats, 1.1), model_lib.warp_bands(feats, 0.9)
    assert _centroid(up) > _centroid(feats) + 0.5 > _centroid(down) + 1.0
    assert up.shape == feats.shape
    np.testing.assert_allclose(model_lib.stretch_frames(feats, 1.0), feats, atol=1e-5)
    assert len(model_lib.stretch_frames(feats, 1.25)) == round(len(feats) / 1.25)
    assert len(model_lib.stretch_frames(feats, 0.8)) == round(len(feats) / 0.8)


def test_training_examples_are_random_windows_of_the_model_input_shape(feats):
    rng = np.random.default_rng(0)
    a, b = (model_lib.cnn_train_example(feats, rng) for _ in range(2))
    assert a.shape == b.shape == (model_lib.N_FRAMES, audio.N_MELS) and a.dtype == np.float32
    assert not np.allclose(a, b)


def test_mixup_blends_examples_labels_and_weights(feats, monkeypatch):
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7] * 4)
    clips = [feats] * len(labels)
    monkeypatch.setattr(neural_network, "MIXUP_ALPHA", 0.0)
    towers = list(model_lib.CNN_TOWERS)
    x, ys, w = neural_network.train_batches(clips, labels, 16, seed=1)[0]
    assert list(ys) == list(w) == towers  # one target and one weight per tower
    y = ys[towers[0]]
    assert set(y.sum(axis=1)) == {1.0} and set(y.max(axis=1)) == {1.0}
    monkeypatch.setattr(neural_network, "MIXUP_ALPHA", 0.4)
    x, ys, w = neural_network.train_batches(clips, labels, 16, seed=1)[0]
    y = ys[towers[0]]
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)
    assert (y.max(axis=1) >= 0.5).all() and (y.max(axis=1) < 1.0).any()
    assert all(np.array_equal(ys[t], y) for t in towers)  # every tower learns the same blend
    assert x.shape == (16, model_lib.N_FRAMES, audio.N_MELS)
    assert all(w[t].shape == (16,) for t in towers)


def test_loss_weights_balance_classes_and_the_corpora_within_each():
    # The real corpora's make-up: RAVDESS has calm and few files per class; TESS has no calm and
    # many files per class (counts from MANIFEST: 1440 RAVDESS files, 2800 TESS files).
    utterances, _ = corpus.scan(DATASETS)
    labels = np.array([u.label for u in utterances])
    corpora = np.array([u.corpus for u in utterances])
    assert (corpora == "RAVDESS").sum() == 1440 and (corpora == "TESS").sum() == 2800
    totals = lambda w, mask: np.array([w[mask & (labels == c)].sum() for c in range(len(corpus.EMOTIONS))])
    w = neural_network.example_weights(labels, corpora, balance_corpora=True)
    assert w.shape == labels.shape and abs(w.mean() - 1) < 1e-4
    per_class = totals(w, np.ones_like(labels, bool))
    np.testing.assert_allclose(per_class, per_class[0], rtol=1e-4)
    ravdess, tess = totals(w, corpora == "RAVDESS"), totals(w, corpora == "TESS")
    calm = corpus.EMOTIONS.index("calm")
    shared = [c for c in range(len(corpus.EMOTIONS)) if c != calm]
    np.testing.assert_allclose(ravdess[shared], tess[shared], rtol=1e-4)
    assert tess[calm] == 0 and ravdess[calm] > 0
    w = neural_network.example_weights(labels, corpora, balance_corpora=False)
    np.testing.assert_allclose(totals(w, np.ones_like(labels, bool)), per_class, rtol=1e-4)
    # Without corpus balance the 2800 TESS files outweigh RAVDESS's in every shared class.
    assert (totals(w, corpora == "TESS")[shared] > 2 * totals(w, corpora == "RAVDESS")[shared]).all()


def test_each_tower_trains_on_the_loss_weights_its_balance_names(monkeypatch):
    # The towers of one batch see the same examples, each weighted as TOWER_BALANCE says.
    utterances, _ = corpus.scan(DATASETS)
    labels = np.array([u.label for u in utterances])
    corpora = np.array([u.corpus for u in utterances])
    clips = [np.zeros((10, audio.N_MELS), np.float32)] * len(labels)
    assert sorted(neural_network.TOWER_BALANCE) == sorted(model_lib.TOWERS)
    towers = list(model_lib.TOWERS)
    monkeypatch.setattr(model_lib, "CNN_TOWERS", tuple(towers))
    monkeypatch.setattr(neural_network, "MIXUP_ALPHA", 0.0)
    # One tower balanced across corpora, the next not, and so on.
    monkeypatch.setattr(neural_network, "TOWER_BALANCE", {t: i % 2 == 0 for i, t in enumerate(towers)})
    batches = neural_network.train_batches(clips, labels, 512, seed=0, corpora=corpora)
    _, _, w = batches[0]
    idx = batches.order[:512]
    for name in towers:
        want = neural_network.example_weights(labels, corpora,
                                              balance_corpora=neural_network.TOWER_BALANCE[name])
        np.testing.assert_allclose(w[name], want[idx], rtol=1e-5)
    assert list(w) == towers and not np.allclose(w[towers[0]], w[towers[1]])
