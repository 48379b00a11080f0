"""Test-time views (issue 3): a model may predict each clip as the average over the clip, a copy
of it with white noise added, and both warped in frequency, each chosen on held-out speakers and
saved with the model."""

import numpy as np
import pytest

import audio
import live_predictions
import model as model_lib
import neural_network
from conftest import DATASETS, real_file
from create_features import load_features

CLIP = "RAVDESS/Actor_01/03-01-05-02-01-01-01.flac"
# The SNRs tried here (model.TEST_TIME_NOISE_DB's default, named so that these tests keep them).
SNRS = (20.0, 10.0)
# The warp factors tried here (model.TEST_TIME_WARPS's default).
WARPS = (0.9, 1.1)


@pytest.fixture
def tried(monkeypatch):
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", SNRS)
    return SNRS


def test_white_noise_mel_is_the_mean_mel_power_of_white_noise():
    rng = np.random.default_rng(0)
    for power in (1e-4, 0.25):
        noise = (np.sqrt(power) * rng.standard_normal(20 * audio.SAMPLE_RATE)).astype(np.float32)
        measured = np.mean(10.0 ** (audio.log_mel(noise) / 10.0), axis=0)
        expected = audio.white_noise_mel(np.mean(noise.astype(np.float64) ** 2))
        assert expected.shape == (audio.N_MELS,)
        # The lowest bands sum few FFT bins over 2000 frames, so they wander by a few tenths of a dB.
        assert np.max(np.abs(10 * np.log10(measured / expected))) < 0.5


def test_noisy_view_is_the_clip_with_noise_at_its_expected_power_pauses_and_all():
    y = audio.load_audio(real_file(CLIP))
    feats, power = audio.features(y), audio.frame_power(y)
    first, last = audio.loud_frames(y)
    speech = float(np.mean(power[first:last + 1], dtype=np.float64))
    rng = np.random.default_rng(1)
    for snr in SNRS:
        clean, view = model_lib.clip_views(y, snr)
        np.testing.assert_array_equal(clean, feats)
        np.testing.assert_array_equal(view, model_lib.noisy_view(feats, power, snr))
        assert view.dtype == np.float32 and view.shape[1] == audio.N_MELS
        assert len(view) > len(feats)  # the noise fills the pauses, so trimming keeps them
        # Against real noisy copies: the mean mel power of 32 copies, each with fresh white noise
        # ``snr`` below the speech power, over the frames the view keeps.
        scale = np.sqrt(speech / 10.0 ** (snr / 10.0))
        copies = [10.0 ** (audio.log_mel(y + (scale * rng.standard_normal(len(y))).astype(np.float32)) / 10.0)
                  for _ in range(32)]
        start, end = audio.loud_span(power + np.float32(scale ** 2))
        assert end - start + 1 == len(view)
        diff = np.abs(10.0 * np.log10(np.mean(copies, axis=0)[start:end + 1]) - view)
        assert np.median(diff) < 0.5 and np.percentile(diff, 95) < 1.5
        # The pauses hold the noise alone; the speech is louder than it was, never quieter.
        assert first - start > 50 and end - last > 50  # this clip's copy keeps half a second of each pause
        floor = 10.0 * np.log10(audio.white_noise_mel(scale ** 2))
        np.testing.assert_allclose(view[:first - start], np.tile(floor, (first - start, 1)), atol=1e-3)
        np.testing.assert_allclose(view[last - start + 1:], np.tile(floor, (end - last, 1)), atol=1e-3)
        assert np.all(view[first - start:last - start + 1] >= feats - 1e-3)
    # Louder noise, louder copy: the 10 dB copy keeps at least the 20 dB copy's frames, and lies
    # above it on every one of them.
    spans = {snr: audio.loud_span(power + np.float32(speech / 10.0 ** (snr / 10.0))) for snr in (20.0, 10.0)}
    (s20, e20), (s10, e10) = spans[20.0], spans[10.0]
    assert s10 <= s20 and e10 >= e20
    v20, v10 = (model_lib.noisy_view(feats, power, snr) for snr in (20.0, 10.0))
    assert np.all(v10[s20 - s10:e20 - s10 + 1] > v20)
    # Silence is its own copy; features of another clip are refused.
    silence = np.zeros(8000, np.float32)
    np.testing.assert_array_equal(model_lib.clip_views(silence, 10.0)[1], audio.features(silence))
    with pytest.raises(ValueError, match="not those of this audio"):
        model_lib.noisy_view(feats[1:], power, 10.0)
    assert len(model_lib.clip_views(y, None)) == 1


@pytest.fixture(scope="module")
def trained(small_features):
    """A cnn trained for one epoch on the small real subset, and its features."""
    data = load_features(small_features)
    net, _, _ = neural_network.fit("cnn", data["features"], data["labels"], epochs=1)
    return net, data


def test_saved_choice_makes_every_prediction_path_average_the_clip_and_its_noisy_copy(trained, tmp_path):
    net, data = trained
    model_lib.save(net, tmp_path / "plain", arch="cnn")
    model_lib.save(net, tmp_path / "noisy", arch="cnn", test_time_noise_db=10.0)
    plain, noisy = model_lib.load(tmp_path / "plain"), model_lib.load(tmp_path / "noisy")
    assert plain.noise_db is None and noisy.noise_db == 10.0 and noisy.backend == "numpy"
    idx = [0, 40, len(data["path"]) - 1]
    clips = [DATASETS / data["path"][i] for i in idx]
    for path in clips:
        y = audio.load_audio(path)
        alone = plain.predict_features([audio.features(y)])[0]
        copy = plain.predict_features([model_lib.noisy_view(audio.features(y), audio.frame_power(y), 10.0)])[0]
        got = noisy.predict_file(path)
        np.testing.assert_allclose([got[e] for e in noisy.emotions], (alone + copy) / 2, atol=1e-6)
        assert not np.allclose([got[e] for e in noisy.emotions], alone, atol=1e-4)
        assert noisy.predict_waveform(y) == got
    # A folder of files (live_predictions.py) goes the same way.
    batch = {}
    live_predictions.predict_paths(noisy, clips, lambda f, probs, err: batch.__setitem__(f, probs))
    # Several clips go through the model as one batch, and a BLAS library may round a batch's sums
    # differently from one clip's (OpenBLAS on AMD EPYC: in the 8th decimal), so not bit for bit.
    assert list(batch) == clips
    for f in clips:
        one = noisy.predict_file(f)
        np.testing.assert_allclose([batch[f][e] for e in noisy.emotions], [one[e] for e in noisy.emotions], atol=1e-6)
    # Saved with several SNRs, a copy at each is averaged in: three views here.
    model_lib.save(net, tmp_path / "both", arch="cnn", test_time_noise_db=(20.0, 10.0))
    both = model_lib.load(tmp_path / "both")
    assert both.meta["input"]["test_time_noise_db"] == [20.0, 10.0]
    y = audio.load_audio(clips[0])
    feats, power = audio.features(y), audio.frame_power(y)
    views = [feats] + [model_lib.noisy_view(feats, power, snr) for snr in (20.0, 10.0)]
    assert [v.shape for v in model_lib.clip_views(y, [20.0, 10.0])] == [v.shape for v in views]
    expected = np.mean([plain.predict_features([v])[0] for v in views], axis=0)
    got = both.predict_file(clips[0])
    np.testing.assert_allclose([got[e] for e in both.emotions], expected, atol=1e-6)
    # The evaluation scores exactly what the shipped model computes (the same noisy copy).
    evaluated = neural_network.noisy_view_probs("cnn", net, data, idx, (10.0,))[10.0]
    for path, row in zip(clips, evaluated):
        y = audio.load_audio(path)
        np.testing.assert_allclose(row, plain.predict_features([model_lib.clip_views(y, 10.0)[1]])[0], atol=1e-6)


def fold_zero(features):
    """The small subset's features and protocol (b)'s fold 0 in it: (data, train, held, test) indices."""
    data = load_features(features)
    folds = neural_network.speaker_folds(data)
    test = np.flatnonzero(folds == 0)
    held = np.flatnonzero(folds == neural_network.validation_fold(0, set(folds.tolist())))
    train = np.flatnonzero(~np.isin(np.arange(len(folds)), np.concatenate([test, held])))
    return data, train, held, test


def test_noise_is_chosen_on_the_held_out_speakers_never_the_test_speakers(small_features, monkeypatch, tried):
    """Stand-in (a mock, named as such): the noisy copies' probabilities are made perfect for the
    test files and useless for the held-out files, so a choice read off the test files would pick
    noise; the real choice must not."""
    monkeypatch.setattr(neural_network, "TEST_TIME_NOISE_RULE", "choose")  # each fold chooses
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())  # the noise alone decides what is predicted
    data, train, held, test = fold_zero(small_features)
    n = len(model_lib.EMOTIONS)
    labels = data["labels"]

    def stand_in(arch, net, data, idx, snrs, condition=None):
        idx = np.asarray(idx)
        right = np.eye(n)[labels[idx]]
        return {snr: right if set(idx) <= set(test) else np.roll(right, 1, axis=1) for snr in snrs}

    monkeypatch.setattr(neural_network, "noisy_view_probs", stand_in)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert run["test_time_noise_db"] is None
    assert set(run["held_accuracy"]) == {None, *tried, tried}  # each copy alone, and all of them
    np.testing.assert_array_equal(run["raw"], run["single"])
    # The options are still scored on the test files, beside the choice (and here they would win).
    for snr in tried:
        assert np.mean(run["options"][snr].argmax(1) == labels[test]) > np.mean(run["single"].argmax(1) == labels[test])

    # Now the held-out files' noisy copies are perfect: the choice takes noise, at the quieter SNR on a tie.
    def helpful(arch, net, data, idx, snrs, condition=None):
        return {snr: np.eye(n)[labels[np.asarray(idx)]] for snr in snrs}

    monkeypatch.setattr(neural_network, "noisy_view_probs", helpful)
    clean = np.full((len(held), n), 1.0 / n)
    clean[np.arange(len(held)), (labels[held] + 1) % n] += 0.01  # confidently wrong on every file
    chosen, accuracy, probs = neural_network.choose_test_time_noise("cnn", None, data, held, clean)
    assert accuracy[None] == 0.0 and chosen == max(tried)  # all copies together are never chosen
    np.testing.assert_allclose(probs, (clean + np.eye(n)[labels[held]]) / 2)


def test_the_rule_all_averages_every_noisy_copy_on_every_fold(small_features, monkeypatch, tried):
    """Stand-in (a mock, named as such) for the noisy copies' probabilities: each SNR's its own,
    and useless on the held-out files, where the rule "choose" would take no copy."""
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())
    monkeypatch.setattr(neural_network, "TEST_TIME_NOISE_RULE", "all")
    data, train, held, test = fold_zero(small_features)
    n = len(model_lib.EMOTIONS)
    labels = data["labels"]

    def stand_in(arch, net, data, idx, snrs, condition=None):
        wrong = np.eye(n)[(labels[np.asarray(idx)] + 1) % n]
        return {snr: (wrong + snr / 100) / (1 + n * snr / 100) for snr in snrs}

    monkeypatch.setattr(neural_network, "noisy_view_probs", stand_in)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert run["test_time_noise_db"] == tried and run["held_accuracy"][None] > run["held_accuracy"][tried]
    copies = stand_in(None, None, data, test, tried)
    np.testing.assert_allclose(run["raw"], (run["single"] + copies[20.0] + copies[10.0]) / 3)
    np.testing.assert_array_equal(run["raw"], run["options"][tried])
    for snr in tried:  # each copy alone is still scored beside it
        np.testing.assert_allclose(run["options"][snr], (run["single"] + copies[snr]) / 2)
    assert "test-time noise 20+10 dB" in neural_network.noise_text(run)


def test_without_snrs_to_try_every_clip_is_predicted_alone(small_features, monkeypatch, tmp_path):
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())  # as --test-time-noise none sets it
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())  # as --test-time-warps none sets it
    data = load_features(small_features)
    folds = neural_network.speaker_folds(data)
    test, held = np.flatnonzero(folds == 6), np.flatnonzero(folds == 0)
    train = np.flatnonzero((folds != 6) & (folds != 0))
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    data["dataset"] = str(tmp_path / "gone")  # the clips alone need no audio, so none is read
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert run["test_time_noise_db"] is None and run["options"] == {}
    assert run["test_time_warps"] is None and run["warped"] is None and run["held_warp_accuracy"] == {}
    np.testing.assert_array_equal(run["raw"], run["single"])
    assert neural_network.noise_text(run) == ""


def test_shipped_choice_is_what_most_folds_chose(tried):
    pick = neural_network.shipped_test_time_noise
    assert pick([10.0, 10.0, None, 20.0]) == 10.0
    assert pick([None, None, 10.0]) is None
    assert pick([None, 10.0, 20.0]) is None  # ties: no copy first
    assert pick([10.0, 20.0, 10.0, 20.0]) == 20.0  # then the quieter noise
    assert pick([]) is None
    assert pick([tried] * 3) == tried and pick([[20.0, 10.0]] * 2) == tried  # the rule "all", from a JSON list too
    assert neural_network.noise_db_text(tried) == "20+10 dB" and neural_network.noise_db_text(10.0) == "10 dB"


def test_noisy_copies_need_the_audio_and_say_so_when_it_is_gone(small_features, tmp_path):
    from create_features import FeaturesError
    data = load_features(small_features)
    data["dataset"] = str(tmp_path / "gone")
    with pytest.raises(FeaturesError, match="gone.*download_data.py"):
        neural_network.waveform(data, 0)


# ----------------------------------------------------------------------------- test-time warps

def test_warped_views_follow_the_views_each_warped_by_every_factor():
    y = audio.load_audio(real_file(CLIP))
    clean, copy = model_lib.clip_views(y, 20.0)
    views = model_lib.clip_views(y, 20.0, WARPS)
    assert len(views) == 6 and len(model_lib.clip_views(y, None, WARPS)) == 3
    np.testing.assert_array_equal(views[0], clean)
    np.testing.assert_array_equal(views[1], copy)
    for k, (view, w) in enumerate([(v, w) for v in (clean, copy) for w in WARPS]):
        np.testing.assert_array_equal(views[2 + k], model_lib.warp_bands(view, w))
        assert views[2 + k].shape == view.shape and not np.allclose(views[2 + k], view, atol=0.1)
    # A shorter vocal tract (factor above 1) moves the spectrum up: the mel band with the most
    # energy over the clip moves up, a longer one's moves down.
    peak = {w: int(np.argmax(model_lib.warp_bands(clean, w).mean(axis=0))) for w in (0.9, 1.0, 1.1)}
    assert peak[0.9] <= peak[1.0] <= peak[1.1] and peak[0.9] < peak[1.1]
    assert model_lib.warped_views([clean], ()) == [clean]


def test_clip_alone_predicts_as_a_model_saved_without_test_time_views(trained, tmp_path):
    net, data = trained
    model_lib.save(net, tmp_path / "plain", arch="cnn")
    model_lib.save(net, tmp_path / "views", arch="cnn", test_time_noise_db=20.0, test_time_warps=WARPS)
    plain, views = model_lib.load(tmp_path / "plain"), model_lib.load(tmp_path / "views")
    path = DATASETS / data["path"][0]
    with_views = views.predict_file(path)
    assert views.clip_alone() is views and views.noise_db is None and views.warps == ()
    alone, expected = views.predict_file(path), plain.predict_file(path)
    assert list(alone) == list(expected)
    np.testing.assert_allclose(list(alone.values()), list(expected.values()), atol=1e-9)
    assert not np.allclose([with_views[e] for e in views.emotions], [alone[e] for e in views.emotions], atol=1e-4)
    assert len(views.clip_views(audio.load_audio(path))) == 1


def test_saved_warps_make_every_prediction_path_average_all_the_views(trained, tmp_path):
    net, data = trained
    model_lib.save(net, tmp_path / "plain", arch="cnn")
    model_lib.save(net, tmp_path / "views", arch="cnn", test_time_noise_db=20.0, test_time_warps=WARPS)
    plain, views = model_lib.load(tmp_path / "plain"), model_lib.load(tmp_path / "views")
    assert plain.warps == () and views.warps == WARPS and views.noise_db == 20.0
    assert model_lib.read_meta(tmp_path / "views")["input"]["test_time_warps"] == list(WARPS)
    assert model_lib.read_meta(tmp_path / "plain")["input"]["test_time_warps"] is None
    idx = [0, 40, len(data["path"]) - 1]
    clips = [DATASETS / data["path"][i] for i in idx]
    for path in clips:
        y = audio.load_audio(path)
        each = [plain.predict_features([v])[0] for v in model_lib.clip_views(y, 20.0, WARPS)]
        got = views.predict_file(path)
        np.testing.assert_allclose([got[e] for e in views.emotions], np.mean(each, axis=0), atol=1e-6)
        assert not np.allclose(np.mean(each, axis=0), np.mean(each[:2], axis=0), atol=1e-4)
    # The evaluation scores exactly what the shipped model computes.
    evaluated = neural_network.view_probs("cnn", net, data, idx, 20.0, WARPS)
    for path, row in zip(clips, evaluated):
        got = views.predict_file(path)
        np.testing.assert_allclose(row, [got[e] for e in views.emotions], atol=1e-5)
    # A model saved before warps existed (no key in its metadata) predicts without them.
    meta = dict(views.meta, input={k: v for k, v in views.meta["input"].items() if k != "test_time_warps"})
    assert model_lib.Predictor(net, meta).warps == ()


def test_warps_are_chosen_on_the_held_out_speakers_never_the_test_speakers(small_features, monkeypatch):
    """Stand-in (a mock, named as such): the warped views' probabilities are made perfect for the
    test files and useless for the held-out files, so a choice read off the test files would take
    the warps; the real choice must not."""
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", WARPS)
    data, train, held, test = fold_zero(small_features)
    n = len(model_lib.EMOTIONS)
    labels = data["labels"]
    calls = []

    def stand_in(arch, net, data, idx, noise_db=None, warps=(), condition=None):
        calls.append(warps)
        idx = np.asarray(idx)
        right = np.eye(n)[labels[idx]]
        return right if set(idx) <= set(test) else np.roll(right, 1, axis=1)

    monkeypatch.setattr(neural_network, "view_probs", stand_in)
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert calls == [WARPS, WARPS]  # held-out files, then test files
    assert run["test_time_warps"] is None and set(run["held_warp_accuracy"]) == {"none", "0.9,1.1"}
    np.testing.assert_array_equal(run["raw"], run["unwarped"])
    np.testing.assert_array_equal(run["unwarped"], run["single"])
    assert np.mean(run["warped"].argmax(1) == labels[test]) == 1.0  # scored beside, would have won

    # Now the held-out files' warped views are perfect: the warps are chosen, and their
    # probabilities are what the temperature is fitted on.
    def helpful(arch, net, data, idx, noise_db=None, warps=(), condition=None):
        return np.eye(n)[labels[np.asarray(idx)]]

    monkeypatch.setattr(neural_network, "view_probs", helpful)
    unwarped = np.full((len(held), n), 1.0 / n)
    chosen, accuracy, probs = neural_network.choose_test_time_warps("cnn", None, data, held, None, unwarped)
    assert chosen == WARPS and accuracy == {"none": pytest.approx(np.mean(labels[held] == 0)), "0.9,1.1": 1.0}
    np.testing.assert_array_equal(probs, np.eye(n)[labels[held]])
    # A tie keeps the views as they were: warps cost model calls, so they must win.
    chosen, _, probs = neural_network.choose_test_time_warps("cnn", None, data, held, None, np.eye(n)[labels[held]])
    assert chosen is None


def test_shipped_warps_are_those_more_than_half_the_folds_chose(monkeypatch):
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", WARPS)
    pick = neural_network.shipped_test_time_warps
    assert pick([WARPS, WARPS, None]) == WARPS
    assert pick([WARPS, None]) is None  # a tie: none
    assert pick([None, None, WARPS]) is None and pick([]) is None
    monkeypatch.setattr(model_lib, "TEST_TIME_WARPS", ())  # --test-time-warps none
    assert pick([WARPS, WARPS]) is None
