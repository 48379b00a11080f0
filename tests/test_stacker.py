"""experiments/stacker.py: the four voices joined by fitted weights or a stacker."""

import sys

import numpy as np
import pytest

from conftest import REPO, copy_folds, product_recipe

sys.path.insert(0, str(REPO / "experiments"))
import corpus  # noqa: E402
import neural_network  # noqa: E402
import stacker  # noqa: E402


@pytest.fixture(scope="module")
def voices(small_features, one_epoch_folds, tmp_path_factory):
    """The product's protocol (b) on the small subset, four voices and all, as stacker.py runs it:
    (data, evaluate's result for "b", each fold's run after the fourth voice)."""
    cache = copy_folds(one_epoch_folds, tmp_path_factory.mktemp("stacker") / "cache")
    with pytest.MonkeyPatch.context() as monkeypatch:
        product_recipe(monkeypatch)
        data = neural_network.load_data(small_features)
        result, runs = stacker.product_runs(data, cache, log=lambda *_: None)
    return data, result, runs


@pytest.mark.experiment_run
def test_the_runs_are_the_products_and_keep_each_voice_alone(voices):
    data, result, runs = voices
    assert neural_network.last_voice.__name__ == "last_voice"  # product_runs put it back
    np.testing.assert_allclose(np.concatenate([run["probs"] for run in runs]), result["probs"], atol=1e-6)
    logs = stacker.log_voices(runs)
    assert logs.shape == (len(data["path"]), len(stacker.VOICES), len(corpus.EMOTIONS))
    # Each voice is its own: the voices' probabilities differ, and each is the run's kept alone.
    for v, key in enumerate(stacker.VOICES.values()):
        probs = np.concatenate([run[key] for run in runs])
        np.testing.assert_allclose(np.exp(logs[:, v]), np.clip(probs, stacker.FLOOR, 1.0), rtol=1e-6)
    assert not np.allclose(logs[:, 0], logs[:, 3])


def test_no_fold_is_joined_by_anything_fitted_on_its_own_labels(voices):
    data, _, runs = voices
    idx = np.concatenate([run["test"] for run in runs])
    labels, corpora = np.asarray(data["labels"])[idx], np.asarray(data["corpus"])[idx]
    folds = neural_network.speaker_folds(data)[idx]
    logs = stacker.log_voices(runs)
    quiet = dict(log=lambda *_: None)
    before = stacker.arms(logs, labels, folds, corpora, **quiet)
    assert sorted(before) == ["joint weights", "joint weights and biases", "stacker"]
    for probs in before.values():
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    # Fold k's labels changed: fold k's probabilities stay, the other folds' (fitted on them) move.
    k = int(folds[0])
    shuffled = labels.copy()
    shuffled[folds == k] = (labels[folds == k] + 1) % len(corpus.EMOTIONS)
    after = stacker.arms(logs, shuffled, folds, corpora, **quiet)
    for name in before:
        np.testing.assert_allclose(after[name][folds == k], before[name][folds == k], atol=1e-9)
        assert not np.allclose(after[name][folds != k], before[name][folds != k], atol=1e-4)


def test_the_joint_weights_find_the_voice_that_knows(voices):
    data, _, runs = voices
    idx = np.concatenate([run["test"] for run in runs])
    labels = np.asarray(data["labels"])[idx]
    logs = stacker.log_voices(runs)
    # A fifth voice right on every file (0.6 on its emotion) and a sixth that is noise.
    k = logs.shape[2]
    knows = np.full((len(labels), k), 0.4 / (k - 1))
    knows[np.arange(len(labels)), labels] = 0.6
    noise = np.random.default_rng(0).dirichlet(np.ones(k), size=len(labels))
    both = np.concatenate([logs, np.log(knows)[:, None], np.log(noise)[:, None]], axis=1)
    weights = stacker.corpus_weights(np.asarray(data["corpus"])[idx])
    assert np.isclose(weights.sum(), len(labels))
    w, b = stacker.fit_joint(both, labels, weights, biases=False)
    assert not b.any() and w[4] == max(w) and w[4] > 1.0 and abs(w[5]) < 0.5
    assert np.mean(stacker.joint_probs(both, w, b).argmax(axis=1) == labels) == 1.0
