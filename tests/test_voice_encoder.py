"""experiments/voice_encoder.py: a pretrained voice encoder read from its wheel, run on real files."""

import sys
import zipfile

import joblib
import numpy as np
import pytest

import audio
from conftest import REPO, blended_probabilities, needs_data, pypi_wheel, real_file, run_script

sys.path.insert(0, str(REPO / "experiments"))
import voice_encoder  # noqa: E402


@pytest.fixture(scope="session")
def encoder_wheel(tmp_path_factory):
    """Resemblyzer 0.1.4's wheel: the one beside the project's features when it is there, else
    downloaded from PyPI as the script's docstring says (16 MB)."""
    return pypi_wheel(tmp_path_factory, "Resemblyzer==0.1.4", voice_encoder.WHEEL_NAME)


def test_partial_utterances_are_cut_as_the_encoders_code_cuts_them():
    # 3 s: 301 frames, a partial every 77 frames; the third starts at 154 and is 91% audio: kept.
    assert voice_encoder.partial_slices(3 * 16000) == [(0, 160), (77, 237), (154, 314)]
    # 2.4 s: the third would start at 154 with (38400 - 24640) / 25600 = 54% audio: dropped.
    assert voice_encoder.partial_slices(38400) == [(0, 160), (77, 237)]
    # A clip shorter than one partial still gets one.
    assert voice_encoder.partial_slices(8000) == [(0, 160)]


def test_a_missing_or_other_wheel_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file; download it with .*pip download --no-deps Resemblyzer"):
        voice_encoder.read_weights(tmp_path / voice_encoder.WHEEL_NAME)
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr(voice_encoder.WEIGHTS_MEMBER, b"not weights")
    with pytest.raises(ValueError, match=r"other\.whl: not Resemblyzer 0\.1\.4's wheel"):
        voice_encoder.read_weights(other)


@needs_data
def test_the_encoder_hears_who_speaks_and_not_how_loud(encoder_wheel):
    weights = voice_encoder.read_weights(encoder_wheel)
    assert weights["lstm.weight_ih_l0"].shape == (1024, 40) and weights["linear.weight"].shape == (256, 256)
    clips = {actor: [audio.load_audio(real_file(f"RAVDESS/Actor_{actor:02d}/03-01-{e:02d}-01-0{s}-01-{actor:02d}.flac"))
                     for e, s in ((1, 1), (3, 2), (5, 1))] for actor in (1, 2)}
    e = {actor: np.stack([voice_encoder.embed(y, weights) for y in ys]) for actor, ys in clips.items()}
    for actor in e:
        assert e[actor].shape == (3, 256) and np.allclose(np.linalg.norm(e[actor], axis=1), 1.0, atol=1e-5)
    same = [float(e[a][i] @ e[a][j]) for a in e for i in range(3) for j in range(i + 1, 3)]
    across = [float(e[1][i] @ e[2][j]) for i in range(3) for j in range(3)]
    assert min(same) > max(across)  # a man's three clips are nearer each other than to a woman's
    # Brought to one level first, a clip 12 dB quieter gives the same embedding.
    quieter = voice_encoder.embed(clips[1][0] * 0.25, weights)
    assert np.allclose(quieter, e[1][0], atol=1e-4)


@pytest.mark.experiment_run
def test_the_script_blends_a_run_and_keeps_its_embeddings(small_features, blend_run, encoder_wheel):
    data, run_csv, out_csv, args = blend_run
    first = run_script("experiments/voice_encoder.py", *args, "--wheel", encoder_wheel)
    assert first.returncode == 0, first.stderr
    assert "making the voice encoder's embeddings" in first.stdout and "ms per clip on the mean" in first.stdout
    kept = joblib.load(small_features.parent / voice_encoder.ENCODER_NAME)
    assert kept["paths"] == list(data["path"]) and kept["features"].shape == (len(data["path"]), 256)
    lines = first.stdout.splitlines()
    check = next(line for line in lines if line.startswith("the embeddings tell the 4 RAVDESS actors apart "))
    assert float(check.split(" apart ")[1].split()[0]) > 0.5  # chance is 0.25
    assert any(line.startswith("the voice encoder's classifier alone: overall ") for line in lines)
    assert [line.split(":")[0].strip() for line in lines if line.startswith("  fold ")] == \
        ["fold 0", "fold 1", "fold 6", "fold 7"]
    blended_probabilities(out_csv, data)

    # Run again: the embeddings and the classifier's probabilities are read back, not made again.
    chosen = next(line for line in lines if line.startswith("each fold's C: "))
    again = run_script("experiments/voice_encoder.py", *args, "--wheel", encoder_wheel)
    assert again.returncode == 0, again.stderr
    assert "making the" not in again.stdout and chosen in again.stdout.splitlines()
    # Each fold's w chosen by both corpora's voices outside it: the same classifier, another choice.
    both = run_script("experiments/voice_encoder.py", *args, "--wheel", encoder_wheel, "--choose-on", "both")
    assert both.returncode == 0, both.stderr
    assert "making the" not in both.stdout and any(f"{run_csv}: w per fold: 0: " in line for line in both.stdout.splitlines())
    # A wheel that is not there is one line, before any file is read.
    gone = run_script("experiments/voice_encoder.py", *args, "--wheel", encoder_wheel.parent / "gone.whl")
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1 and "gone.whl" in gone.stderr
