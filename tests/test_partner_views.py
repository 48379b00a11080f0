"""experiments/partner_views.py: the clip summaries its partners read, and the partner's layers."""

import sys
from pathlib import Path

import numpy as np
import pytest

import audio
import model as model_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import partner_views  # noqa: E402


def test_deltas_are_the_slope_of_each_coefficient_away_from_the_edges():
    t = np.arange(50, dtype=np.float32)[:, None]
    frames = np.hstack([3.0 * t, -0.5 * t, np.full_like(t, 7.0), t ** 2])
    d = partner_views.deltas(frames)
    assert d.shape == frames.shape
    inside = slice(partner_views.DELTA_WIDTH, -partner_views.DELTA_WIDTH)
    np.testing.assert_allclose(d[inside, 0], 3.0, rtol=1e-6)
    np.testing.assert_allclose(d[inside, 1], -0.5, rtol=1e-6)
    np.testing.assert_allclose(d[:, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(d[inside, 3], 2.0 * t[inside, 0], rtol=1e-6)  # d(t^2)/dt
    assert abs(d[0, 0]) < 3.0  # an edge repeats its frame, so its slope is flattened


def test_every_view_summarises_a_clip_in_a_fixed_number_of_values():
    rng = np.random.default_rng(0)
    for n_frames in (30, 300):
        c = audio.mfcc(rng.normal(-40.0, 10.0, (n_frames, audio.N_MELS)))
        sizes = {name: summary(c).shape for name, (summary, _, _) in partner_views.VIEWS.items()}
        assert sizes["mean"] == (audio.N_MFCC,)
        assert sizes["mean-no-c0"] == (audio.N_MFCC - 1,)
        assert sizes["level"] == (len(partner_views.LEVEL_PERCENTILES),)
        assert sizes["mean+spread+deltas"] == (3 * audio.N_MFCC,)


def test_the_partner_is_the_seed_model_on_another_input_length():
    seed = model_lib.build("seed")
    net = partner_views.partner(17, seed=0)
    assert net.input_shape == (None, 17, 1)
    assert net.output_shape == seed.output_shape
    assert [type(layer) for layer in net.layers] == [type(layer) for layer in seed.layers]
    assert float(net.optimizer.learning_rate) == float(seed.optimizer.learning_rate)


def test_on_the_mfcc_means_the_partner_starts_from_the_shipped_partners_weights():
    import neural_network as nn

    net = partner_views.partner(audio.N_MFCC, seed=7)
    nn.set_seed(7)  # as neural_network.fit seeds the seed's model before it builds it
    shipped = model_lib.build("seed")
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), shipped.get_weights()))
    other = partner_views.partner(audio.N_MFCC, seed=8)
    assert not np.array_equal(other.get_weights()[0], shipped.get_weights()[0])


def test_read_ours_takes_the_cnn_rows_in_the_files_order_and_names_a_file_missing(tmp_path):
    import corpus
    import neural_network as nn

    paths = ["RAVDESS/Actor_01/a.flac", "TESS/OAF_sad/b.flac", "TESS/YAF_sad/c.flac"]
    data = {"path": paths, "labels": np.array([0, 4, 4]), "corpus": ["RAVDESS", "TESS", "TESS"],
            "speaker": ["Actor_01", "OAF", "YAF"]}
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(corpus.EMOTIONS)), size=3)
    other = rng.dirichlet(np.ones(len(corpus.EMOTIONS)), size=3)
    csv = tmp_path / "ours.csv"
    nn.write_predictions(csv, data, {"cnn": {"b": {"idx": np.array([2, 0, 1]), "probs": probs[[2, 0, 1]]}},
                                     "seed": {"b": {"idx": np.arange(3), "probs": other}}})
    np.testing.assert_allclose(partner_views.read_ours(csv, data), probs, atol=1e-4)  # 4 decimals
    nn.write_predictions(csv, data, {"cnn": {"b": {"idx": np.array([0, 1]), "probs": probs[:2]}}})
    try:
        partner_views.read_ours(csv, data)
    except ValueError as err:
        assert str(csv) in str(err) and "1 of 3 files" in str(err) and paths[2] in str(err)
    else:
        raise AssertionError("a file without a 'cnn' row was not reported")
    for wrong, what in ((tmp_path / "none.csv", "no such file"), (tmp_path / "x.txt", "not a predictions CSV")):
        if what != "no such file":
            wrong.write_text("a,b\n1,2\n")
        try:
            partner_views.read_ours(wrong, data)
        except ValueError as err:
            assert str(err).startswith(f"{wrong}: {what}")
        else:
            raise AssertionError(f"{wrong} was not reported")


def test_weighed_adds_a_blend_per_weight_and_scores_each():
    labels = np.array([0, 1, 1, 0])
    corpora = np.array(["RAVDESS", "RAVDESS", "TESS", "TESS"])
    base = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])  # right on 0 and 3
    other = np.array([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])  # right on 1 and 2
    text = partner_views.scorer(labels, corpora)
    assert text(base) == "0.500 (RAVDESS 0.500, TESS 0.500)"
    assert text(np.array([[1, 0], [0, 1], [1, 0], [1, 0]])) == "0.750 (RAVDESS 1.000, TESS 0.500)"
    results = {}
    line = partner_views.weighed("x", base, other, results, text)
    assert sorted(results) == sorted(f"x w{w:g}" for w in partner_views.FIXED_WEIGHTS)
    for w in partner_views.FIXED_WEIGHTS:
        np.testing.assert_allclose(results[f"x w{w:g}"]["b"]["probs"], model_lib.blend(base, other, w))
    assert line.count("; ") == len(partner_views.FIXED_WEIGHTS) - 1
    # At 0.4 the partner's stronger view wins: 0.6^0.6 * 0.1^0.4 < 0.4^0.6 * 0.9^0.4.
    assert line.endswith("w 0.4 0.500 (RAVDESS 0.500, TESS 0.500)")
    assert results["x w0.4"]["b"]["probs"][0].argmax() == 1 and results["x w0.1"]["b"]["probs"][0].argmax() == 0


@pytest.mark.experiment_run
def test_fold_probs_predicts_each_file_once_from_a_model_that_never_heard_its_fold(monkeypatch):
    import neural_network as nn

    monkeypatch.setitem(nn.EPOCHS, "seed", 1)  # one epoch: this checks the bookkeeping, not the fit
    folds = np.repeat(np.arange(8), 4)  # 6 RAVDESS folds, then OAF and YAF, 4 files each
    labels = np.tile(np.arange(4), 8)
    corpora = np.where(folds < 6, "RAVDESS", "TESS")
    x = np.random.default_rng(0).normal(size=(len(folds), 5, 1)).astype(np.float32)
    seen = []

    def prepare(xs, train):  # records which files each fold trained on
        seen.append(set(train.tolist()))
        return xs

    held = {}
    probs = partner_views.fold_probs(x, labels, corpora, folds, seed=0, prepare=prepare, held_out=held)
    assert probs.shape == (len(folds), 8)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)  # every file predicted, once
    assert sorted(held) == list(range(8))
    for k, train in enumerate(seen):
        v = nn.validation_fold(k, set(range(8)))
        assert train == set(np.flatnonzero((folds != k) & (folds != v)).tolist())
        assert held[k].shape == (4, 8)  # the held-out fold's 4 files
