"""Measured: how the two TESS voices act each emotion, and what one voice's clips teach about the other's.

    python experiments/tess_voices.py          # under a minute here; needs create_features.py's output

Under protocol (b) each TESS voice is tested by a model that heard the other TESS voice and the 24
RAVDESS actors, and the shipped model gets none of either voice's 200 happy clips right: OAF's go
to surprised, YAF's to angry, with confidence. This asks whether that is our model or the voices.
Nothing here is trained with Keras or chosen for the shipped model; it reads the features file.

Part 1 prints each voice's prosody (audio.prosody, stored by create_features.py) per emotion: the
median over the voice's 200 clips of that emotion of its pitch level, pitch spread, pitch
movement, loudness spread and length, and the same for the 24 RAVDESS actors' clips pooled.

Part 2 trains a plain classifier (TRANSFER_MODEL: logistic regression on each clip's 40 MFCC means
and 20 prosody numbers, scaled by its training rows, classes weighed equally) on one set of voices
and tests it on a TESS voice:
  - "same voice, other words": the voice's own clips of half the 200 words, tested on the other
    half and the other way round (every clip tested once): can these numbers tell the voice's
    emotions apart at all?
  - "other TESS voice": trained on the other TESS voice alone;
  - "RAVDESS actors": trained on the 24 actors alone;
  - "both (protocol b's training voices)": the other TESS voice and the 24 actors, as protocol
    (b) trains for this voice (without its augmented copies or held-out split);
  - "both, and the voice's other emotions": the same, and the voice's own clips of every emotion
    but happy (FOLLOW), as if it had recorded all the rest: does knowing the voice place its happy?
For each it prints accuracy over the voice's 1400 clips (not for the last, which heard most of
them), happy's recall, and where the voice's happy clips went. The classifier is not ours; it
shows what the two voices' clips hold in the numbers both of our models read.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
import corpus  # noqa: E402
import model as model_lib  # noqa: E402  (no Keras until a model is built or loaded)
from create_features import FEATURES_FILE, load_features  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

# The two TESS voices (corpus.parse_tess's speakers).
VOICES = ("OAF", "YAF")
# The emotion whose fate we follow.
FOLLOW = "happy"
# Prosody columns shown in part 1 (audio.PROSODY_NAMES), with a short heading each.
SHOWN = {"pitch median (semitones re 100 Hz)": "pitch", "pitch spread (semitones)": "spread",
         "pitch movement (mean |change|, semitones/s)": "movement", "loudness spread": "loud sd",
         "seconds": "seconds"}
# The classifier of part 2: scaled inputs, then multinomial logistic regression, each class
# weighed by the inverse of its count (so RAVDESS's calm and TESS's missing classes don't tilt it).
TRANSFER_MODEL = dict(C=1.0, max_iter=5000, class_weight="balanced")
# Seed of the classifier's solver (lbfgs is deterministic; kept for the record).
SEED = 42


def clip_inputs(data):
    """(n, N_MFCC + N_PROSODY) float64: every clip's MFCC means (the seed model's input), then its prosody."""
    means = model_lib.seed_input(data["features"])[:, :, 0]
    return np.concatenate([means, np.asarray(data["prosody"])], axis=1).astype(np.float64)


def prosody_table(data, log=print):
    """Part 1: median of SHOWN prosody per voice (and RAVDESS pooled) and emotion."""
    emotions, labels = data["emotions"], np.asarray(data["labels"])
    shown = np.asarray(data["prosody"])[:, [audio.PROSODY_NAMES.index(name) for name in SHOWN]]
    speakers = np.asarray(data["speaker"])
    groups = [(v, speakers == v) for v in VOICES]
    groups.append(("RAVDESS", np.asarray(data["corpus"]) == "RAVDESS"))
    log("prosody, median per emotion (pitch in semitones re 100 Hz, movement in semitones/s, "
        "loudness spread in dB, length in s)")
    log(f"{'voice':8s} {'emotion':10s} " + " ".join(f"{h:>8s}" for h in SHOWN.values()))
    for name, rows in groups:
        for e, emotion in enumerate(emotions):
            sel = rows & (labels == e)
            if sel.any():
                med = np.median(shown[sel], axis=0)
                log(f"{name:8s} {emotion:10s} " + " ".join(f"{m:8.2f}" for m in med))


def transfer(x, labels, train, test):
    """Train TRANSFER_MODEL on rows ``train`` and return its predicted labels for rows ``test``."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(random_state=SEED, **TRANSFER_MODEL))
    clf.fit(x[train], labels[train])
    return clf.predict(x[test])


def transfer_table(data, log=print):
    """Part 2: each TESS voice predicted from each set of training voices. Returns
    {(voice, source): (accuracy, happy recall)}; accuracy is None where the model heard the
    voice's other clips (only its happy clips are tested there)."""
    x, labels = clip_inputs(data), np.asarray(data["labels"])
    emotions, speakers = data["emotions"], np.asarray(data["speaker"])
    ravdess = np.asarray(data["corpus"]) == "RAVDESS"
    words = np.array([corpus.parse_tess(Path(p))["word"] if c == "TESS" else ""
                      for p, c in zip(data["path"], data["corpus"])])
    follow = emotions.index(FOLLOW)
    results = {}
    for voice in VOICES:
        mine = speakers == voice
        other = ~mine & ~ravdess
        half = np.isin(words, sorted(set(words[mine]))[::2])  # every other word, in sorted order
        test, test_follow = np.flatnonzero(mine), np.flatnonzero(mine & (labels == follow))
        predicted = {}  # source: (rows tested, their predicted labels)
        same = np.empty(len(labels), dtype=int)
        for a, b in ((mine & half, mine & ~half), (mine & ~half, mine & half)):
            same[b] = transfer(x, labels, np.flatnonzero(a), np.flatnonzero(b))
        predicted["same voice, other words"] = test, same[test]
        predicted["other TESS voice"] = test, transfer(x, labels, np.flatnonzero(other), test)
        predicted["RAVDESS actors"] = test, transfer(x, labels, np.flatnonzero(ravdess), test)
        predicted["both (protocol b's training voices)"] = test, transfer(
            x, labels, np.flatnonzero(other | ravdess), test)
        enrolled = other | ravdess | (mine & (labels != follow))
        predicted["both, and the voice's other emotions"] = test_follow, transfer(
            x, labels, np.flatnonzero(enrolled), test_follow)
        for source, (rows, pred) in predicted.items():
            truth = labels[rows]
            acc = float(np.mean(pred == truth)) if len(rows) == len(test) else None
            went = pred[truth == follow]
            recall = float(np.mean(went == follow))
            counts = np.bincount(went, minlength=len(emotions))
            top = ", ".join(f"{emotions[k]} {counts[k]}" for k in np.argsort(-counts, kind="stable")[:3]
                            if counts[k])
            log(f"{voice} from {source}: accuracy " + (f"{acc:.3f}" if acc is not None else "(not tested)")
                + f", {FOLLOW} recall {recall:.3f} ({FOLLOW} went to: {top})")
            results[(voice, source)] = (acc, recall)
    return results


def features_from_args(argv, doc):
    """The features file named by ``--features`` in ``argv`` (default create_features.FEATURES_FILE),
    loaded; a script's command line, described by the first line of its docstring ``doc``. Exits
    with a one-line error naming the file when it cannot be read."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    args = parser.parse_args(argv)
    try:
        return load_features(args.features)
    except ValueError as err:
        sys.exit(f"error: {err}")


def main(argv=None):
    data = features_from_args(argv, __doc__)
    prosody_table(data)
    transfer_table(data)


if __name__ == "__main__":
    main()
