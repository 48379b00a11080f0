"""experiments/voice_views.py: the partner and the third voice averaged over the noisy copies."""

import sys

import numpy as np

from conftest import REPO, run_script

sys.path.insert(0, str(REPO / "experiments"))
import voice_views  # noqa: E402
import neural_network  # noqa: E402


def test_the_product_arm_is_the_product_and_the_others_average_the_noisy_copies(small_product):
    data, result, runs, partners, trained = small_product
    idx, out = voice_views.arms(data, runs, partners, trained)
    assert list(out) == list(voice_views.ARMS)
    weights, final = out[voice_views.PRODUCT]
    # The product's arm is the product: its third voice's weights and every file's probabilities.
    assert [weights[k] for k in sorted(weights)] == result["third_voice"]["weights"]
    np.testing.assert_allclose(final, result["probs"], atol=1e-6)
    for arm in out:
        assert np.allclose(out[arm][1].sum(axis=1), 1.0) and len(out[arm][1]) == len(idx) == len(data["path"])
    # Averaging over the noisy copies changes every averaged voice's blend, and the partner's is the
    # product's blend with the partner's probabilities over the views put in its place.
    assert not np.allclose(out["third voice over views"][1], final)
    assert not np.allclose(out["partner over views"][1], final)
    every_fold = neural_network.speaker_folds(data)
    folds = every_fold[idx]
    partner = {v: np.concatenate([m["test"] if v == "clean" else m["conditions"][v] for m in partners])
               for v in voice_views.VIEWS}
    by_fold = dict(zip((int(every_fold[r["test"][0]]) for r in runs), result["mfcc_blend"]["weights"]))
    ours = np.concatenate([r["probs"] for r in runs])
    blended = voice_views.blend_folds(ours, np.mean([partner[v] for v in voice_views.VIEWS], axis=0), folds, by_fold)
    third_weights, expected = out["partner over views"]
    third = {v: p[idx] for v, p in voice_views.voice_probs(data, trained, voice_views.VIEWS[1:]).items()}
    np.testing.assert_allclose(expected, voice_views.blend_folds(blended, third["clean"], folds, third_weights))


def test_a_run_without_its_seed_is_refused_in_one_line(small_features):
    result = run_script("experiments/voice_views.py", "--features", small_features, "--run", "runs/cache42")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "argument --run: 'runs/cache42': give a fold cache and its seed as CACHE:SEED")


def test_the_gains_are_each_arms_numbers_less_the_products_seed_by_seed(capsys):
    numbers = [{"product": np.array([0.70, 0.60, 0.80, 0.10]), "arm": np.array([0.72, 0.61, 0.79, 0.12])},
               {"product": np.array([0.68, 0.62, 0.75, 0.09]), "arm": np.array([0.68, 0.60, 0.77, 0.09])}]
    voice_views.print_gains(numbers, [42, 48])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["gain over the product, mean of 2 seed(s) (42, 48):",
                     "  arm: overall +1.00 points (per seed +2.00, +0.00; gained on 1 of 2), RAVDESS -0.50, "
                     "TESS +0.50, ECE +0.010"]
