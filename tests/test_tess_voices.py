"""experiments/tess_voices.py: which voices each TESS voice is predicted from, on a small real subset."""

import sys
from pathlib import Path

import numpy as np

from conftest import REPO, record_transfers, run_script

sys.path.insert(0, str(REPO / "experiments"))
import tess_voices  # noqa: E402
from create_features import load_features  # noqa: E402
import corpus  # noqa: E402


def test_each_voice_is_predicted_only_from_the_voices_named(small_features, monkeypatch):
    data = load_features(small_features)
    speakers, corpora = np.asarray(data["speaker"]), np.asarray(data["corpus"])
    words = {i: corpus.parse_tess(Path(p))["word"] for i, p in enumerate(data["path"]) if corpora[i] == "TESS"}
    calls = record_transfers(monkeypatch, tess_voices)
    results = tess_voices.transfer_table(data, log=lambda line: None)

    assert len(calls) == 2 * 6  # per voice: two halves of its words, then four other sources
    happy = data["emotions"].index(tess_voices.FOLLOW)
    for v, voice in enumerate(tess_voices.VOICES):
        mine = set(np.flatnonzero(speakers == voice))
        (train1, test1), (train2, test2), other, ravdess, both, enrolled = calls[6 * v:6 * v + 6]
        # Same voice: every clip tested once, never by a model that heard its word.
        assert sorted([*test1, *test2]) == sorted(mine)
        for train, test in ((train1, test1), (train2, test2)):
            assert set(train) <= mine
            assert not {words[i] for i in train} & {words[i] for i in test}
        # The other sources test every clip of the voice and never train on it.
        for train, test in (other, ravdess, both):
            assert sorted(test) == sorted(mine) and not set(train) & mine
        assert set(corpora[other[0]]) == {"TESS"}
        assert set(corpora[ravdess[0]]) == {"RAVDESS"}
        assert set(both[0]) == set(other[0]) | set(ravdess[0])
        # Enrolled: the voice's own clips of every emotion but happy join the training voices.
        own = set(enrolled[0]) & mine
        assert own and all(data["labels"][i] != happy for i in own)
        assert own == {i for i in mine if data["labels"][i] != happy}
        assert set(enrolled[0]) - mine == set(both[0])
        assert set(enrolled[1]) == {i for i in mine if data["labels"][i] == happy}
        assert results[(voice, "both, and the voice's other emotions")][0] is None
        assert set(results) >= {(voice, source) for source in (
            "same voice, other words", "other TESS voice", "RAVDESS actors",
            "both (protocol b's training voices)", "both, and the voice's other emotions")}
        assert all(0.0 <= a <= 1.0 for a, _ in results.values() if a is not None)
        assert all(0.0 <= r <= 1.0 for _, r in results.values())


def test_the_script_prints_both_parts(small_features):
    result = run_script("experiments/tess_voices.py", "--features", small_features)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for voice in tess_voices.VOICES:
        assert sum(line.startswith(f"{voice} ") and "happy" in line for line in lines) == 1 + 5
    assert any(line.startswith("RAVDESS  calm") for line in lines)


def test_a_missing_features_file_is_one_line_and_a_non_zero_exit(tmp_path):
    result = run_script("experiments/tess_voices.py", "--features", tmp_path / "nothing.joblib")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "nothing.joblib" in result.stderr
