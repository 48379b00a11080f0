"""experiments/voice_enrollment.py: the last voices centred on other clips of the same voice."""

import sys

import numpy as np
import pytest

from conftest import REPO, copy_folds, product_recipe, run_script

sys.path.insert(0, str(REPO / "experiments"))
import neural_network  # noqa: E402
import voice_enrollment  # noqa: E402


def test_each_file_is_drawn_other_files_of_its_own_speaker_the_same_way_every_time(small_features):
    data = neural_network.load_data(small_features)
    speakers, emotions = np.asarray(data["speaker"]), np.asarray(data["emotion"])
    draws = voice_enrollment.enrolment(data, clips=4)
    assert draws.shape == (len(speakers), 4)
    for i, drawn in enumerate(draws):
        assert len(set(drawn)) == 4 and i not in drawn
        assert set(speakers[drawn]) == {speakers[i]}
    # Seeded by each file's path: the same draws again, and not one draw shared by a whole speaker.
    np.testing.assert_array_equal(voice_enrollment.enrolment(data, clips=4), draws)
    first_actor = np.flatnonzero(speakers == speakers[0])
    assert len({tuple(sorted(d)) for d in draws[first_actor]}) > 1
    calm = voice_enrollment.enrolment(data, arm="calm", clips=4)
    assert set(emotions[calm.ravel()]) <= set(voice_enrollment.CALM)
    assert all(i not in drawn for i, drawn in enumerate(calm))


def test_a_speaker_with_too_few_files_is_named_and_an_unknown_arm_refused(small_features):
    data = neural_network.load_data(small_features)
    per_speaker = min(np.unique(data["speaker"], return_counts=True)[1])
    with pytest.raises(neural_network.FeaturesError, match=rf"speaker .*: {per_speaker - 1} other files to draw"):
        voice_enrollment.enrolment(data, clips=per_speaker)
    with pytest.raises(ValueError, match="arm 'loud'"):
        voice_enrollment.enrolment(data, arm="loud")


def test_every_summary_is_centred_on_its_files_draw_and_the_data_left_as_it_was(small_features):
    data = neural_network.load_data(small_features)
    before = {k: np.array(data[k], copy=True) for k in ("functionals", "embeddings")}
    draws = voice_enrollment.enrolment(data, clips=3)
    out = voice_enrollment.enrolled(data, draws)
    for key in ("functionals", "embeddings"):
        np.testing.assert_array_equal(data[key], before[key])
        assert out[key].dtype == data[key].dtype and out[key].shape == data[key].shape
        for i in (0, len(draws) - 1):
            want = data[key][i].astype(np.float64) - data[key][draws[i]].astype(np.float64).mean(axis=0)
            np.testing.assert_allclose(out[key][i], want, rtol=1e-5, atol=1e-5)
    # A robustness condition is centred on the same files under that condition, not on the clean ones.
    cond, x = sorted(data["condition_functionals"].items())[0]
    want = x[5].astype(np.float64) - x[draws[5]].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(out["condition_functionals"][cond][5], want, rtol=1e-5, atol=1e-5)
    cond, x = sorted(data["condition_embeddings"].items())[0]
    np.testing.assert_allclose(out["condition_embeddings"][cond][5],
                               x[5] - x[draws[5]].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-5)
    # An augmented copy is centred on its source file's clean draw.
    aug = data["augmented"]
    r, src = 7, aug["source"][7]
    want = aug["functionals"][r].astype(np.float64) - data["functionals"][draws[src]].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(out["augmented"]["functionals"][r], want, rtol=1e-5, atol=1e-5)
    assert out["augmented"]["augmented"] is aug["augmented"]  # the network's copies are not touched


@pytest.mark.experiment_run
def test_each_arm_retrains_only_the_last_voices_beside_links_to_the_kept_folds(small_features, one_epoch_folds,
                                                                             tmp_path, monkeypatch, capsys):
    product_recipe(monkeypatch)
    cache = copy_folds(one_epoch_folds, tmp_path / "cache")
    assert voice_enrollment.main(["--fold-cache", str(cache), "--features", str(small_features),
                                  "--clips", "3"]) == 0
    out = capsys.readouterr().out
    for arm in voice_enrollment.ARMS:
        side = cache / f"enrolled-{arm}"
        linked = sorted(p.name for p in side.iterdir() if p.is_symlink())
        assert linked == sorted(p.name for p in cache.glob("*.joblib") if p.stem not in voice_enrollment.RETRAINED)
        assert any(name.startswith("cnn-b-fold") for name in linked)
        for name in voice_enrollment.RETRAINED:
            assert (side / f"{name}.joblib").is_file() and not (side / f"{name}.joblib").is_symlink()
        assert f"{arm} minus the product: all " in out
    # The kept classifiers of an arm were trained on its centred summaries: the product's own data
    # is refused them (the kept settings hash the summaries).
    data = neural_network.load_data(small_features)
    with pytest.raises(neural_network.FoldCacheError, match="fourth-voice-b.joblib: kept from a run with other"):
        neural_network.fourth_voice_b(data, cache / "enrolled-any", log=lambda *_: None)
    assert out.count("fourth voice: C per fold") == 1 + len(voice_enrollment.ARMS)


def test_bad_arms_and_clips_are_refused_in_one_line(tmp_path):
    for args, message in ((["--arms", "any,loud"], "--arms: 'loud' is not one of any, calm"),
                          (["--clips", "0"], "--clips 0: give at least 1")):
        result = run_script("experiments/voice_enrollment.py", "--fold-cache", tmp_path, *args)
        assert result.returncode == 2 and message in result.stderr
    result = run_script("experiments/voice_enrollment.py", "--fold-cache", tmp_path)
    assert result.returncode == 1 and "holds no kept protocol (b) folds" in result.stderr.strip().splitlines()[-1]
