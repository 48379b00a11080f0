"""experiments/speech_embedding.py: Google's speech embedding read from openWakeWord's wheel, run on real files."""

import sys

import joblib
import numpy as np
import pytest

import audio
from conftest import (DATASETS, REPO, blended_probabilities, link_subset, made_up_blend, needs_data, pypi_wheel,
                      real_file, run_script, subset_relpaths)

sys.path.insert(0, str(REPO / "experiments"))
import speech_embedding  # noqa: E402


@pytest.fixture(scope="session")
def embedding_wheel(tmp_path_factory):
    """openWakeWord 0.5.1's wheel: the one beside the project's features when it is there, else
    downloaded from PyPI as the script's docstring says (17 MB)."""
    return pypi_wheel(tmp_path_factory, speech_embedding.REQUIREMENT, speech_embedding.WHEEL_NAME)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny real subset, featurized by create_features.py (every fourth file of actors 1 and 5,
    in two folds, and 2 files of each TESS folder: every emotion, 58 files), with a made-up run
    of it: (load_features' dict, the run's CSV, a blended CSV's path, the script's arguments that
    blend the one into the other). Smaller than the suite's small subset, as the script embeds
    every file up to seven times."""
    if not DATASETS.is_dir():
        pytest.skip(f"corpora not found at {DATASETS}")
    root = tmp_path_factory.mktemp("tiny")
    dataset = link_subset(root / "dataset", subset_relpaths(actors=(1, 5), tess_per_folder=2, actor_step=4))
    features = root / "features" / "features.joblib"
    made = run_script("create_features.py", "--dataset", dataset, "--out", features, "--jobs", "2")
    assert made.returncode == 0, made.stderr
    return made_up_blend(features, dataset, root)


def test_a_missing_wheel_is_one_line_that_says_how_to_download_it(tmp_path):
    # The check itself (missing, or another SHA-256) is voice_encoder.wheel_members, tested there.
    missing = r"gone\.whl: no such file; download it with .*pip download --no-deps openWakeWord==0\.5\.1 -d "
    with pytest.raises(ValueError, match=missing):
        speech_embedding.read_models(tmp_path / "gone.whl")


@needs_data
def test_every_window_is_embedded_and_a_quieter_clip_gives_the_same_numbers(embedding_wheel):
    embedder = speech_embedding.Embedder(speech_embedding.read_models(embedding_wheel))
    y = audio.load_audio(real_file("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac"))
    windows = embedder.windows(y)
    frames = len(audio.trim_silence(y)) // 160  # the model's front end: a frame every 10 ms
    expected = (frames - speech_embedding.WINDOW_FRAMES) // speech_embedding.STEP_FRAMES + 1
    assert windows.shape[1] == speech_embedding.EMBEDDING_SIZE and abs(len(windows) - expected) <= 1
    assert np.all(np.isfinite(windows)) and windows.std(axis=0).mean() > 0  # the windows differ
    e = embedder.embed(y)
    np.testing.assert_allclose(e, np.concatenate([windows.mean(0), windows.std(0), windows.max(0)]), rtol=1e-6)
    # Brought to one level first, a clip 12 dB quieter gives the same numbers (to the 16-bit rounding).
    np.testing.assert_allclose(embedder.embed(y * 0.25), e, atol=0.05 * np.abs(e).max())
    # Another voice's clip of the same sentence and emotion gives other numbers.
    other = embedder.embed(audio.load_audio(real_file("RAVDESS/Actor_02/03-01-05-01-01-01-02.flac")))
    assert np.abs(other - e).max() > 0.1 * np.abs(e).max()
    # A clip shorter than one window is padded to MIN_SECONDS: one window at least.
    assert len(embedder.windows(y[:4000])) >= 1


@pytest.mark.experiment_run
def test_the_script_blends_a_run_and_keeps_its_embeddings(tiny_run, embedding_wheel):
    data, run_csv, out_csv, args = tiny_run
    folder = args[1].parent
    first = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel)
    assert first.returncode == 0, first.stderr
    assert "making the speech embeddings" in first.stdout and "ms per clip on the mean" in first.stdout
    kept = joblib.load(folder / speech_embedding.EMBEDDING_NAME)
    assert kept["paths"] == list(data["path"]) and kept["features"].shape == (len(data["path"]), 288)
    lines = first.stdout.splitlines()
    assert any(line.startswith("the embeddings tell the 2 RAVDESS actors apart ") for line in lines)
    assert any(line.startswith("the speech embedding's classifier alone: overall ") for line in lines)
    assert [line.split(":")[0].strip() for line in lines if line.startswith("  fold ")] == \
        ["fold 0", "fold 1", "fold 6", "fold 7"]
    blended_probabilities(out_csv, data)
    # Run again: the embeddings and the classifier's probabilities are read back, not made again.
    again = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel)
    assert again.returncode == 0, again.stderr
    assert "making the" not in again.stdout
    # A wheel that is not there is one line, before any file is read.
    gone = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel.parent / "gone.whl")
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1 and "gone.whl" in gone.stderr


@pytest.mark.experiment_run
def test_the_conditions_are_embedded_blended_at_the_clean_clips_weights_and_written(tiny_run, embedding_wheel):
    import csv

    import augment
    from neural_network import CLEAN

    data, made_up, _, args = tiny_run
    folder = args[1].parent
    # The made-up run again with rows under every robustness condition: each file's clean
    # probabilities, shuffled, so that every condition's rows differ.
    with open(made_up, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0])
    rng = np.random.default_rng(1)
    run_csv, out_csv = folder.parent / "conditions.csv", folder.parent / "conditions_blended.csv"
    args = [*args[:args.index("--predictions")], "--predictions", run_csv, "--out", out_csv]
    with open(run_csv, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=columns)
        out.writeheader()
        out.writerows(rows)
        for condition in augment.CONDITIONS:
            for r in rows:
                probs = rng.permutation([r[e] for e in columns[-8:]])
                out.writerow({**r, "condition": condition, **dict(zip(columns[-8:], probs))})
    clean_only = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel)
    assert clean_only.returncode == 0, clean_only.stderr
    with open(out_csv, newline="") as f:
        clean_blend = {r["path"]: r for r in csv.DictReader(f)}
    result = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel, "--conditions")
    assert result.returncode == 0, result.stderr
    assert "making the speech embeddings under the robustness conditions" in result.stdout
    kept = joblib.load(folder / speech_embedding.CONDITIONS_NAME)
    assert sorted(kept["features"]) == sorted(augment.CONDITIONS)
    assert all(v.shape == (len(data["path"]), 288) for v in kept["features"].values())
    lines = result.stdout.splitlines()
    for condition in (CLEAN, *augment.CONDITIONS):
        assert any(line.startswith(f"{run_csv}: under {condition}: alone ") for line in lines)
    with open(out_csv, newline="") as f:
        written = list(csv.DictReader(f))
    assert sorted({r["condition"] for r in written}) == sorted((CLEAN, *augment.CONDITIONS))
    assert len(written) == 5 * len(data["path"])
    # The clean rows are the clean-only blend: the same w per fold, the same classifiers.
    for r in (r for r in written if r["condition"] == CLEAN):
        np.testing.assert_allclose([float(r[e]) for e in columns[-8:]],
                                   [float(clean_blend[r["path"]][e]) for e in columns[-8:]], atol=1e-5)
    # A condition's embeddings are those of its audio: noise 10 dB below the speech changes them.
    assert not np.allclose(kept["features"]["noise_10db"], joblib.load(
        folder / speech_embedding.EMBEDDING_NAME)["features"], atol=1e-3)


@pytest.mark.experiment_run
def test_the_copies_are_made_as_create_features_makes_them_and_trained_on(tiny_run, embedding_wheel):
    import augment
    from create_features import AUGMENT_COPIES

    data, run_csv, out_csv, args = tiny_run
    folder = args[1].parent
    result = run_script("experiments/speech_embedding.py", *args, "--wheel", embedding_wheel, "--augmented")
    assert result.returncode == 0, result.stderr
    assert "making the speech embeddings of the augmented copies" in result.stdout
    assert any(line.startswith("the classifier trained on the copies too, alone: overall ")
               for line in result.stdout.splitlines())
    blended_probabilities(out_csv, data)
    copies = joblib.load(folder / speech_embedding.COPIES_NAME)["features"]
    assert copies.shape == (AUGMENT_COPIES * len(data["path"]), 288)
    # Row i * copies + c is file i's copy c, made again as create_features.py made it.
    embedder = speech_embedding.Embedder(speech_embedding.read_models(embedding_wheel))
    i, c = 5, AUGMENT_COPIES - 1
    y = audio.load_audio(args[args.index("--dataset") + 1] / data["path"][i])
    copy = augment.augment(y, np.random.default_rng(augment.seed_for(data["path"][i], c)))
    np.testing.assert_allclose(copies[i * AUGMENT_COPIES + c], embedder.embed(copy), rtol=1e-5, atol=1e-5)
    # Each fold's classifier trains on the other folds' files and all their copies, none of its own.
    x = joblib.load(folder / speech_embedding.EMBEDDING_NAME)["features"]
    labels = np.asarray(data["labels"])
    from neural_network import speaker_folds

    folds = speaker_folds(data)
    c_of = {int(k): 0.1 for k in np.unique(folds)}
    trained = speech_embedding.copies_folds(x, copies, labels, folds, c_of)
    assert sorted(trained) == sorted(c_of)
    for k, clf in trained.items():
        assert clf[0].n_samples_seen_ == int(np.sum(folds != k)) * (1 + AUGMENT_COPIES)
        # Its scaler's mean is that of those rows exactly: the other folds' files and their copies.
        others = np.flatnonzero(folds != k)
        source = np.repeat(np.arange(len(x)), AUGMENT_COPIES)  # the file each copy's row copies
        rows = np.concatenate([x[others], copies[np.isin(source, others)]])
        np.testing.assert_allclose(clf[0].mean_, rows.mean(axis=0), rtol=1e-4, atol=1e-4)
