"""Test-time noise (issue 3): a model may predict each clip as the average over the clip and a
copy of it with white noise added, chosen on held-out speakers and saved with the model."""

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
    monkeypatch.setattr(model_lib, "TEST_TIME_NOISE_DB", ())  # as --test-time-noise none sets it
    data = load_features(small_features)
    folds = neural_network.speaker_folds(data)
    test, held = np.flatnonzero(folds == 6), np.flatnonzero(folds == 0)
    train = np.flatnonzero((folds != 6) & (folds != 0))
    monkeypatch.setitem(neural_network.EPOCHS, "cnn", 1)
    data["robustness"] = None
    run = neural_network.run_fold("cnn", data, train, test, held)
    assert run["test_time_noise_db"] is None and run["options"] == {}
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
