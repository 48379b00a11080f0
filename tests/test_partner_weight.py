"""experiments/partner_weight.py: the partner's weight chosen by both corpora's voices."""

import sys

import numpy as np
import pytest

from conftest import REPO, plumbing_third_voice, run_script

sys.path.insert(0, str(REPO / "experiments"))
import partner_weight  # noqa: E402
import neural_network  # noqa: E402


def test_the_products_rule_gives_the_products_probabilities_and_the_new_rule_its_own(small_product, tmp_path,
                                                                                     monkeypatch):
    data, result, runs, partners, trained = small_product
    assert neural_network.choose_blend_weights.__name__ == "choose_blend_weights"  # product_folds put it back
    assert len(runs) == len(partners) == 4  # the subset's folds: actors 1-4, 5-8, OAF, YAF
    idx, rules = partner_weight.rule_runs(data, runs, partners, trained)
    assert sorted(rules) == sorted([partner_weight.PRODUCT, partner_weight.BOTH])
    weights, third_weights, final = rules[partner_weight.PRODUCT]
    # The product's rule is the product: its weights, and every file's probabilities as evaluate blends them.
    assert [weights[k] for k in sorted(weights)] == result["mfcc_blend"]["weights"]
    assert [third_weights[k] for k in sorted(third_weights)] == result["third_voice"]["weights"]
    np.testing.assert_allclose(final["clean"], result["probs"], atol=1e-6)
    assert sorted(final) == ["clean", *sorted(data["robustness"])]
    weights, _, final = rules[partner_weight.BOTH]
    assert sorted(weights) == [0, 1, 6, 7] and set(weights.values()) <= set(neural_network.MFCC_BLEND_WEIGHTS)
    assert np.allclose(final["clean"].sum(axis=1), 1.0) and len(final["clean"]) == len(idx) == len(data["path"])
    # The third voice with the modulation spectrum (--modulation): the same partner weights, another third voice.
    plumbing_third_voice(monkeypatch)
    modulated = partner_weight.with_modulation(data, log=lambda *_: None)
    other = neural_network.third_voice_b(modulated, tmp_path, log=lambda *_: None)
    _, with_spectrum = partner_weight.rule_runs(modulated, runs, partners, other)
    assert with_spectrum[partner_weight.BOTH][0] == weights
    assert not np.allclose(with_spectrum[partner_weight.PRODUCT][2]["clean"], rules[partner_weight.PRODUCT][2]["clean"])


@pytest.mark.parametrize("script", ["partner_weight.py", "stacker.py", "embedding_pooling.py", "voice_views.py"])
def test_a_folder_without_kept_folds_is_refused_before_anything_trains(script, small_features, tmp_path):
    # A mistyped fold cache would otherwise train every fold from nothing into it; the scripts that
    # take several runs (voice_views.runs_parser) name each as CACHE:SEED.
    cache = tmp_path / "mistyped"
    given = ["--run", f"{cache}:42"] if script == "voice_views.py" else ["--fold-cache", cache]
    result = run_script(f"experiments/{script}", "--features", small_features, *given)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {cache}: holds no kept protocol (b) folds (cnn-b-fold*.joblib); give the --fold-cache "
        "of a README run (neural_network.py --fold-cache)")
    assert not cache.exists()  # nothing made


@pytest.mark.parametrize("script", ["partner_weight.py", "stacker.py"])  # both take fold_cache_parser's options
def test_a_damaged_fold_cache_is_one_line(script, small_features, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cnn-b-fold0.joblib").write_bytes(b"not a kept fold")
    result = run_script(f"experiments/{script}", "--features", small_features, "--fold-cache", cache)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {cache / 'cnn-b-fold0.joblib'}: corrupted fold cache file")
    assert "Traceback" not in result.stderr
