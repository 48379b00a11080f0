"""Test-time noise (issue 3): a model may predict each clip as the average over the clip and one
copy of it with white noise added, chosen on held-out speakers and saved with the model."""

import numpy as np
import pytest

import audio
import augment
import live_predictions
import model as model_lib
import neural_network
from conftest import DATASETS, real_file
from create_features import load_features

CLIP = "RAVDESS/Actor_01/03-01-05-02-01-01-01.flac"
# The SNRs tried here (neural_network.py --test-time-noise 20,10; none are tried by default).
SNRS = (20.0, 10.0)


@pytest.fixture
def tried(monkeypatch):
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", SNRS)
    return SNRS


def test_noisy_copy_has_the_snr_asked_for_keeps_the_pauses_and_is_the_same_every_time():
    y = audio.load_audio(real_file(CLIP))
    for snr in SNRS:
        z = model_lib.test_time_copy(y, snr)
        assert z.shape == y.shape and z.dtype == np.float32
        noise = z.astype(np.float64) - y
        measured = 10 * np.log10(augment.speech_power(y) / np.mean(noise ** 2))
        assert abs(measured - snr) < 0.05
        np.testing.assert_array_equal(model_lib.test_time_copy(y, snr), z)
    # One fixed stream: the samples numpy draws from the seed, whichever length was asked for first.
    n = len(y)
    noise, power = model_lib.test_time_noise(n)
    expected = np.random.default_rng(model_lib.TEST_TIME_NOISE_SEED).standard_normal(n).astype(np.float32)
    np.testing.assert_array_equal(noise, expected)
    assert power == pytest.approx(np.mean(expected.astype(np.float64) ** 2), rel=1e-9)
    np.testing.assert_array_equal(model_lib.test_time_noise(40 * audio.SAMPLE_RATE)[0][:n], noise)
    np.testing.assert_array_equal(model_lib.test_time_copy(np.zeros(8000, np.float32), 10.0), 0.0)
    views = model_lib.clip_views(y, 10.0)
    assert len(views) == 2 and len(model_lib.clip_views(y)) == 1
    np.testing.assert_array_equal(views[0], audio.features(y))
    np.testing.assert_array_equal(model_lib.clip_views(y)[0], audio.features(y))
    assert len(views[1]) > len(views[0])  # the noise fills the pauses, so trimming keeps them
    # The noisy view comes from the clip's own spectrum plus the kept noise spectrum; it is the
    # features of the copy itself, for this clip, for one longer than the kept noise, for a clip
    # shorter than one frame, and for silence.
    long = np.tile(y, int(model_lib.TEST_TIME_NOISE_SECONDS * audio.SAMPLE_RATE / len(y)) + 2)
    for clip in (y, long, y[20000:20300], np.zeros(8000, np.float32)):
        for snr in SNRS:
            np.testing.assert_allclose(model_lib.clip_views(clip, snr)[1],
                                       audio.features(model_lib.test_time_copy(clip, snr)), atol=1e-3)


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
        copy = plain.predict_features([audio.features(model_lib.test_time_copy(y, 10.0))])[0]
        got = noisy.predict_file(path)
        np.testing.assert_allclose([got[e] for e in noisy.emotions], (alone + copy) / 2, atol=1e-6)
        assert not np.allclose([got[e] for e in noisy.emotions], alone, atol=1e-4)
        assert noisy.predict_waveform(y) == got
    # A folder of files (live_predictions.py) goes the same way.
    batch = {}
    live_predictions.predict_paths(noisy, clips, lambda f, probs, err: batch.__setitem__(f, probs))
    assert batch == {f: noisy.predict_file(f) for f in clips}
    # The evaluation scores exactly what the shipped model computes (the same noisy copy).
    evaluated = neural_network.noisy_view_probs("cnn", net, data, idx, (10.0,))[10.0]
    for path, row in zip(clips, evaluated):
        y = audio.load_audio(path)
        np.testing.assert_allclose(row, plain.predict_features([model_lib.clip_views(y, 10.0)[1]])[0], atol=1e-6)


def test_noise_is_chosen_on_the_held_out_speakers_never_the_test_speakers(small_features, monkeypatch, tried):
    """Stand-in (a mock, named as such): the noisy copies' probabilities are made perfect for the
    test files and useless for the held-out files, so a choice read off the test files would pick
    noise; the real choice must not."""
    data = load_features(small_features)
    folds = neural_network.speaker_folds(data)
    test = np.flatnonzero(folds == 0)
    held = np.flatnonzero(folds == neural_network.validation_fold(0, set(folds.tolist())))
    train = np.flatnonzero(~np.isin(np.arange(len(folds)), np.concatenate([test, held])))
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
    assert set(run["held_accuracy"]) == {None, *tried}
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
    assert accuracy[None] == 0.0 and chosen == max(tried)
    np.testing.assert_allclose(probs, (clean + np.eye(n)[labels[held]]) / 2)


def test_without_snrs_to_try_every_clip_is_predicted_alone(small_features, monkeypatch):
    data = load_features(small_features)
    folds = neural_network.speaker_folds(data)
    test, held = np.flatnonzero(folds == 6), np.flatnonzero(folds == 0)
    train = np.flatnonzero((folds != 6) & (folds != 0))
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert model_lib.TEST_TIME_NOISE_DB == () and run["test_time_noise_db"] is None and run["options"] == {}
    np.testing.assert_array_equal(run["raw"], run["single"])
    assert neural_network.noise_text(run) == ""


def test_shipped_choice_is_what_most_folds_chose(tried):
    pick = neural_network.shipped_test_time_noise
    assert pick([10.0, 10.0, None, 20.0]) == 10.0
    assert pick([None, None, 10.0]) is None
    assert pick([None, 10.0, 20.0]) is None  # ties: no copy first
    assert pick([10.0, 20.0, 10.0, 20.0]) == 20.0  # then the quieter noise
    assert pick([]) is None


def test_noisy_copies_need_the_audio_and_say_so_when_it_is_gone(small_features, tmp_path):
    from create_features import FeaturesError
    data = load_features(small_features)
    data["dataset"] = str(tmp_path / "gone")
    with pytest.raises(FeaturesError, match="gone.*download_data.py"):
        neural_network.waveform(data, 0)
