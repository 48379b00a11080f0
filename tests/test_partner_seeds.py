"""experiments/partner_seeds.py: each fold's partner as the mean of several seeds' partners."""

import sys

import numpy as np

from conftest import REPO

sys.path.insert(0, str(REPO / "experiments"))
import partner_seeds  # noqa: E402


def test_the_mean_partner_is_blended_as_the_product_blends_its_own(small_product):
    data, result, runs, partners, trained = small_product
    # Another seed's partners, made up: each fold's probabilities reversed along the emotions.
    other = [{"held": m["held"][:, ::-1], "test": m["test"][:, ::-1], "seconds": 1.0,
              "conditions": {c: p[:, ::-1] for c, p in m["conditions"].items()}} for m in partners]
    mean = partner_seeds.mean_partners([partners, other])
    assert len(mean) == len(partners)
    for m, a, b in zip(mean, partners, other):
        np.testing.assert_allclose(m["test"], (a["test"] + b["test"]) / 2)
        np.testing.assert_allclose(m["held"], (a["held"] + b["held"]) / 2)
        assert sorted(m["conditions"]) == sorted(a["conditions"])
        for c in m["conditions"]:
            np.testing.assert_allclose(m["conditions"][c], (a["conditions"][c] + b["conditions"][c]) / 2)
    idx, out = partner_seeds.arms(data, runs, partners, mean, trained)
    weights, product = out[partner_seeds.PRODUCT]
    # The product's arm is the product, on clean files and under every condition.
    assert [weights[k] for k in sorted(weights)] == result["third_voice"]["weights"]
    np.testing.assert_allclose(product["clean"], result["probs"], atol=1e-6)
    for c in result["condition_probs"]:
        np.testing.assert_allclose(product[c], result["condition_probs"][c], atol=1e-6)
    # The mean of one seed's partners is that seed's partner: the same as the product.
    _, same = partner_seeds.arms(data, runs, partners, partner_seeds.mean_partners([partners]), trained)
    np.testing.assert_allclose(same[partner_seeds.MEAN][1]["clean"], product["clean"])
    assert not np.allclose(out[partner_seeds.MEAN][1]["clean"], product["clean"])
    assert len(out[partner_seeds.MEAN][1]["clean"]) == len(idx) == len(data["path"])
