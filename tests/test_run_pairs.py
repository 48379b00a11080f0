"""experiments/run_pairs.py: two runs' networks averaged, then blended as the product blends one."""

import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "experiments"))
import run_pairs  # noqa: E402


def test_a_pair_averages_the_networks_then_blends_them_as_the_product(small_product):
    data, result, runs, partners, trained = small_product
    # One run scored alone is the product.
    scores, probs = run_pairs.product_scores(data, runs, partners, trained)
    np.testing.assert_allclose(probs, result["probs"], atol=1e-6)
    assert scores[0] == pytest.approx(result["scores"]["all"]["accuracy"])
    assert int(scores[3]) == round(result["scores"]["all"]["accuracy"] * len(data["path"]))
    # Another run, made up: each fold's probabilities reversed along the emotions.
    other = [dict(run, probs=run["probs"][:, ::-1], held_single=run["held_single"][:, ::-1],
                  conditions={c: p[:, ::-1] for c, p in run["conditions"].items()}) for run in runs]
    pair = run_pairs.mean_runs([runs, other])
    for mean, a, b in zip(pair, runs, other):
        np.testing.assert_allclose(mean["probs"], (a["probs"] + b["probs"]) / 2)
        np.testing.assert_allclose(mean["held_single"], (a["held_single"] + b["held_single"]) / 2)
        for c in a["conditions"]:
            np.testing.assert_allclose(mean["conditions"][c], (a["conditions"][c] + b["conditions"][c]) / 2)
        assert np.array_equal(mean["test"], a["test"]) and np.array_equal(mean["held"], a["held"])
    # A pair of one run with itself is that run.
    same = run_pairs.mean_runs([runs, runs])
    np.testing.assert_allclose(run_pairs.product_scores(data, same, partners, trained)[1], probs)
    # Runs that test other files in a fold are refused.
    moved = [dict(run, test=run["test"][::-1]) for run in runs]
    with pytest.raises(ValueError, match="other files in one fold"):
        run_pairs.mean_runs([runs, moved])
