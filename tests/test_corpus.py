"""Name parsing of both corpora, scanning a dataset folder, and the speaker folds."""

from pathlib import Path

import pytest

import corpus
from conftest import DATASETS, link_subset, needs_data


@pytest.mark.parametrize("name, emotion, channel, intensity, speaker", [
    ("Actor_01/03-01-01-01-01-01-01.flac", "neutral", "speech", "normal", "Actor_01"),
    ("Actor_12/03-01-06-02-02-01-12.wav", "fearful", "speech", "strong", "Actor_12"),
    ("Actor_24/03-01-08-02-02-02-24.wav", "surprised", "speech", "strong", "Actor_24"),
    ("Actor_05/03-02-03-02-01-02-05.wav", "happy", "song", "strong", "Actor_05"),
    ("Actor_10/03-02-02-01-02-01-10.flac", "calm", "song", "normal", "Actor_10"),
])
def test_ravdess_names(name, emotion, channel, intensity, speaker):
    u = corpus.identify(Path("/d") / name, Path("/d"))
    assert (u.corpus, u.emotion, u.vocal_channel, u.intensity, u.speaker) == (
        "RAVDESS", emotion, channel, intensity, speaker)


@pytest.mark.parametrize("name, problem", [
    ("Actor_12/01-01-06-01-02-01-12.mp4", "not an audio file"),
    ("Actor_12/02-01-06-01-02-01-12.wav", "video-only"),
    ("Actor_12/01-01-06-01-02-01-12.wav", "full audio-video"),
    ("Actor_01/03-03-01-01-01-01-01.wav", "vocal channel"),
    ("Actor_01/03-01-09-01-01-01-01.wav", "emotion 09"),
    ("Actor_01/03-01-01-02-01-01-01.wav", "neutral has no strong"),
    ("Actor_01/03-01-02-03-01-01-01.wav", "intensity"),
    ("Actor_01/03-01-02-01-03-01-01.wav", "statement"),
    ("Actor_25/03-01-02-01-01-01-25.wav", "actor 25"),
    ("Actor_02/03-01-02-01-01-01-03.wav", "filed under Actor_02"),
    ("Actor_02/03-02-07-01-01-01-02.wav", "song has no disgust"),
    ("Actor_02/notes.wav", "not a RAVDESS name"),
])
def test_ravdess_bad_names(name, problem):
    with pytest.raises(corpus.CorpusError, match=problem):
        corpus.identify(Path("/d") / name, Path("/d"))


@pytest.mark.parametrize("name, emotion, speaker", [
    ("TESS/OAF_neutral/OA_bite_neutral.flac", "neutral", "OAF"),   # the release's irregular name
    ("TESS/OAF_Fear/OAF_food_fear.flac", "fearful", "OAF"),        # capitalised folder
    ("TESS/OAF_Pleasant_surprise/OAF_back_ps.wav", "surprised", "OAF"),
    ("TESS/YAF_pleasant_surprised/YAF_bar_ps.wav", "surprised", "YAF"),
    ("OAF_Sad/OAF_wheat_sad.wav", "sad", "OAF"),                   # no TESS/ parent folder
    ("YAF_angry/YAF_germ_angry.wav", "angry", "YAF"),
])
def test_tess_names(name, emotion, speaker):
    u = corpus.identify(Path("/d") / name, Path("/d"))
    assert (u.corpus, u.emotion, u.speaker) == ("TESS", emotion, speaker)


@pytest.mark.parametrize("name, problem", [
    ("YAF_angry/YAF_germ_sad.wav", "filed under YAF_angry"),
    ("YAF_angry/OAF_germ_angry.wav", "filed under YAF_angry"),
    ("YAF_bored/YAF_germ_bored.wav", "unknown TESS emotion folder"),
    ("YAF_angry/YAF_germ_furious.wav", "unknown TESS emotion token"),
    ("YAF_angry/germ.wav", "not a TESS name"),
])
def test_tess_bad_names(name, problem):
    with pytest.raises(corpus.CorpusError, match=problem):
        corpus.identify(Path("/d") / name, Path("/d"))


@needs_data
def test_scan_real_corpora_counts_every_file():
    utterances, skipped = corpus.scan(DATASETS)
    counts = corpus.count_by_speaker(utterances)
    assert len(utterances) == 4240
    assert all(counts[("RAVDESS", f"Actor_{a:02d}")] == 60 for a in range(1, 25))
    assert counts[("TESS", "OAF")] == counts[("TESS", "YAF")] == 1400
    assert {u.emotion for u in utterances if u.corpus == "TESS"} == set(corpus.EMOTIONS) - {"calm"}
    # The stray files of the folder (its README and manifest) are counted, each with a reason.
    assert sorted(r for r, _ in skipped) == ["MANIFEST.csv", "README.md"]
    assert [u.relpath for u in utterances] == sorted(u.relpath for u in utterances)


@needs_data
def test_scan_counts_stray_files_with_reasons(tmp_path):
    link_subset(tmp_path, ["RAVDESS/Actor_03/03-01-05-01-01-01-03.flac",
                           "TESS/OAF_neutral/OA_bite_neutral.flac"])
    (tmp_path / "RAVDESS" / "Actor_03" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "RAVDESS" / "Actor_03" / "02-01-05-01-01-01-03.wav").write_bytes(b"RIFF")
    (tmp_path / "notes.txt").write_text("hello")
    utterances, skipped = corpus.scan(tmp_path)
    assert [u.emotion for u in utterances] == ["angry", "neutral"]
    reasons = dict(skipped)
    assert set(reasons) == {"RAVDESS/Actor_03/.DS_Store", "RAVDESS/Actor_03/02-01-05-01-01-01-03.wav",
                            "notes.txt"}
    assert "video-only" in reasons["RAVDESS/Actor_03/02-01-05-01-01-01-03.wav"]


def test_scan_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(corpus.CorpusError, match="download_data.py"):
        corpus.scan(tmp_path / "nope")


def test_speaker_folds_are_groups_of_four_actors_then_one_per_tess_speaker():
    folds = [corpus.speaker_fold("RAVDESS", f"Actor_{a:02d}") for a in range(1, 25)]
    assert folds == [a // 4 for a in range(24)]
    assert corpus.speaker_fold("TESS", "OAF") == 6 and corpus.speaker_fold("TESS", "YAF") == 7
