"""experiments/embedding_pooling.py: the fourth voice on a richer summary of the speech embedding."""

import sys

import numpy as np
import pytest

from conftest import DATASETS, REPO, copy_folds, product_recipe, real_file

sys.path.insert(0, str(REPO / "experiments"))
import audio  # noqa: E402
import embedding  # noqa: E402
import embedding_pooling  # noqa: E402
import neural_network  # noqa: E402


@pytest.fixture(scope="module")
def embedder():
    try:
        return embedding.Embedder()
    except embedding.EmbeddingError as err:
        pytest.skip(f"the speech embedding's networks are not fetched ({err}); run `bash setup.sh`")


def test_the_richer_summary_starts_with_the_products_and_orders_its_percentiles(small_features, embedder):
    data = neural_network.load_data(small_features)
    y = audio.load_audio(real_file(data["path"][3]))
    x = embedding_pooling.pooled(embedder.windows(y))
    assert x.shape == (embedding_pooling.N_POOLED,)
    np.testing.assert_array_equal(x[:embedding.N_EMBEDDING], embedder.embed(y))
    mean, std, top, low, *quartiles = x.reshape(-1, embedding.EMBEDDING_SIZE)
    for below, above in zip([low, *quartiles], [*quartiles, top]):
        assert np.all(below <= above)
    assert np.all(std >= 0) and not np.array_equal(low, top) and not np.array_equal(mean, quartiles[1])


def test_summaries_are_refused_when_they_are_not_the_features_files(small_features, embedder):
    data = neural_network.load_data(small_features)
    few = [0, len(data["path"]) - 1]  # one RAVDESS file, one TESS file
    part = {"path": [data["path"][i] for i in few], "embeddings": data["embeddings"][few],
            "condition_embeddings": {c: x[few] for c, x in data["condition_embeddings"].items()}}
    quiet = dict(root=DATASETS, log=lambda *_: None)
    clean, under = embedding_pooling.pooled_features(part, embedder, **quiet)
    assert clean.shape == (2, embedding_pooling.N_POOLED) and set(under) == set(part["condition_embeddings"])
    # Each condition's audio is degraded as create_features.py degrades it: other numbers than clean.
    assert not np.allclose(under["telephone"], clean)
    part["condition_embeddings"]["telephone"] = part["condition_embeddings"]["telephone"] + 1e-3
    with pytest.raises(neural_network.FeaturesError, match=r"\(telephone\) made here differ"):
        embedding_pooling.pooled_features(part, embedder, **quiet)


@pytest.mark.experiment_run
def test_the_richer_run_links_every_kept_set_and_trains_only_its_fourth_voice(small_features, one_epoch_folds,
                                                                             tmp_path, monkeypatch):
    product_recipe(monkeypatch)
    cache = copy_folds(one_epoch_folds, tmp_path / "cache")
    data = neural_network.load_data(small_features)
    # Plumbing, not the real summaries (tested above): the stored 288 numbers, then 384 others.
    grow = lambda x: np.concatenate([x, np.tile(x[:, :embedding.EMBEDDING_SIZE] ** 2, 4)], axis=1)  # noqa: E731
    clean, under = grow(data["embeddings"]), {c: grow(x) for c, x in data["condition_embeddings"].items()}
    assert clean.shape[1] == embedding_pooling.N_POOLED
    product, richer = embedding_pooling.both_runs(data, clean, under, cache, log=lambda *_: None)
    side = cache / embedding_pooling.SIDE_CACHE
    # The side folder links every kept file but the fourth voice's, whose richer classifiers it keeps
    # (a kept file is read back, or refused when made otherwise: neural_network.cached_run).
    assert (side / "fourth-voice-b.joblib").is_file() and not (side / "fourth-voice-b.joblib").is_symlink()
    linked = sorted(p.name for p in side.iterdir() if p.is_symlink())
    assert linked == sorted(p.name for p in cache.glob("*.joblib") if p.name != "fourth-voice-b.joblib")
    assert any(name.startswith("cnn-b-fold") for name in linked)
    kept = neural_network.fourth_voice_b(dict(data, embeddings=clean), side, log=lambda *_: None)
    assert {clf.n_features_in_ for clf in kept["classifiers"].values()} == {embedding_pooling.N_POOLED}
    # Everything before the fourth voice is the product's; the fourth voice alone is another.
    np.testing.assert_array_equal(richer["idx"], product["idx"])
    assert richer["without_fourth_voice"] == product["without_fourth_voice"]
    assert richer["fourth_voice_alone"] != product["fourth_voice_alone"]
