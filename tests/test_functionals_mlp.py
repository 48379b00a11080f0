"""experiments/functionals_mlp.py: a network on the functionals beside or in place of the third voice."""

import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "experiments"))
import functionals_mlp  # noqa: E402
import neural_network  # noqa: E402


@pytest.mark.experiment_run
def test_the_arms_blend_the_network_as_they_say_and_it_is_kept(small_product, tmp_path, monkeypatch):
    data, result, runs, partners, third_voice = small_product
    monkeypatch.setitem(functionals_mlp.MLP_SETTINGS, "max_iter", 20)
    conditions = sorted(data["robustness"])
    lines = []
    trained = functionals_mlp.mlp_folds(data, tmp_path / "mlp", log=lines.append)
    assert sorted(trained["classifiers"]) == [0, 1, 6, 7] and len(lines) == 4  # the subset's folds
    # Each fold's network never saw its own speakers: trained on the other folds' files and copies.
    folds = neural_network.speaker_folds(data)
    _, _, origin = neural_network.third_voice_rows(data, np.arange(len(folds)), augmented=True)
    for k, clf in trained["classifiers"].items():
        assert clf.named_steps["standardscaler"].n_samples_seen_ == np.sum(folds[origin] != k)
    # Kept: read back, not trained again, the same probabilities.
    again = functionals_mlp.mlp_folds(data, tmp_path / "mlp", log=lines.append)
    assert len(lines) == 4
    network = functionals_mlp.voice_probs(data, trained, conditions)
    np.testing.assert_array_equal(functionals_mlp.voice_probs(data, again, conditions)["clean"],
                                  network["clean"])
    # Another setting makes the kept networks stale: refused, not reused.
    monkeypatch.setitem(functionals_mlp.MLP_SETTINGS, "alpha", 0.5)
    with pytest.raises(neural_network.FoldCacheError, match="other settings"):
        functionals_mlp.mlp_folds(data, tmp_path / "mlp")
    third = functionals_mlp.voice_probs(data, third_voice, conditions)
    idx, out = functionals_mlp.arms(data, runs, partners, third, network)
    assert list(out) == [functionals_mlp.PRODUCT, functionals_mlp.IN_PLACE, functionals_mlp.AVERAGED,
                         functionals_mlp.FOURTH]
    weights, product = out[functionals_mlp.PRODUCT]
    # The product's arm is the product, on clean files and under every condition.
    assert [weights[k] for k in sorted(weights)] == result["third_voice"]["weights"]
    np.testing.assert_allclose(product["clean"], result["probs"], atol=1e-6)
    for c in conditions:
        np.testing.assert_allclose(product[c], result["condition_probs"][c], atol=1e-6)
    # The fourth voice is the network blended into the product at each fold's weight.
    weights, fourth = out[functionals_mlp.FOURTH]
    test_folds = folds[idx]
    np.testing.assert_allclose(fourth["clean"], functionals_mlp.blend_folds(product["clean"], network["clean"][idx],
                                                                            test_folds, weights))
    for arm in (functionals_mlp.IN_PLACE, functionals_mlp.AVERAGED):
        assert not np.allclose(out[arm][1]["clean"], product["clean"])
        assert np.allclose(out[arm][1]["clean"].sum(axis=1), 1.0)
