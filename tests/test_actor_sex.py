"""experiments/actor_sex.py: the RAVDESS actors of each sex predicted from each set of voices, on a small real subset."""

import sys

import numpy as np

from conftest import REPO, record_transfers, run_script

sys.path.insert(0, str(REPO / "experiments"))
import actor_sex  # noqa: E402
from create_features import load_features  # noqa: E402
import corpus  # noqa: E402


def test_each_fold_is_predicted_only_from_the_voices_of_its_source(small_features, monkeypatch):
    data = load_features(small_features)
    corpora, speakers = np.asarray(data["corpus"]), np.asarray(data["speaker"])
    calls = record_transfers(monkeypatch, actor_sex)
    lines = []
    results = actor_sex.sex_table(data, log=lines.append)

    # The subset's actors 1, 2 (fold 0) and 5, 6 (fold 1): a man and a woman in each fold.
    assert len(calls) == len(actor_sex.SOURCES) * 2
    allowed = {"actors": lambda i: corpora[i] == "RAVDESS",
               "actors and TESS": lambda i: True,
               "women actors": lambda i: corpora[i] == "RAVDESS" and corpus.actor_sex(speakers[i]) == "female",
               "men actors": lambda i: corpora[i] == "RAVDESS" and corpus.actor_sex(speakers[i]) == "male"}
    for n, source in enumerate(actor_sex.SOURCES):
        for train, test in calls[2 * n:2 * n + 2]:
            tested = set(speakers[test])
            assert tested in ({"Actor_01", "Actor_02"}, {"Actor_05", "Actor_06"})
            assert not tested & set(speakers[train]), "a model heard the actors it was tested on"
            assert len(train) and all(allowed[source](i) for i in train)
        # Every actor's every file is tested once per source, and scored by its sex.
        assert sorted(np.concatenate([t for _, t in calls[2 * n:2 * n + 2]])) == list(np.flatnonzero(corpora == "RAVDESS"))
        assert set(results[source]) == {"female", "male"}
        assert all(0.0 <= a <= 1.0 for a in results[source].values())
    # TESS counts as the women's: the two voices join only "actors and TESS".
    assert set(speakers[calls[2][0]]) >= {"OAF", "YAF"} and not {"OAF", "YAF"} & set(speakers[calls[0][0]])
    assert any(line.startswith("trained on men actors: women ") for line in lines)


def test_a_missing_features_file_is_one_line(tmp_path):
    result = run_script("experiments/actor_sex.py", "--features", tmp_path / "none.joblib")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "none.joblib" in result.stderr
