"""Measured: are the RAVDESS men harder to hear than the women, whoever the training voices are?

    python experiments/actor_sex.py          # seconds here; needs create_features.py's output

Under protocol (b) our model gets the 12 male RAVDESS actors 11 to 15 points less often right than
the 12 women, with every seed (neural_network.py --score-predictions prints it). Both TESS voices
are women and weigh as much as the 24 actors in our loss, so three quarters of the training weight
is women's speech. This asks whether the gap follows the training voices or the actors.

For every protocol (b) RAVDESS fold (4 actors: 2 men, 2 women) it trains a plain classifier
(tess_voices.transfer: logistic regression on each clip's 40 MFCC means and 20 prosody numbers,
classes weighed equally; not ours, no Keras) on the other folds' voices from each of SOURCES, and
tests the fold's actors. It prints, for each source, the accuracy on the test women and on the
test men over all 6 folds (720 files each), and on the test men minus the women. Nothing here is
chosen for the shipped model.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus  # noqa: E402
from tess_voices import clip_inputs, features_from_args, transfer  # noqa: E402

import numpy as np  # noqa: E402

# The training voices tried, each a rule on a file's (corpus, sex) given that its speaker is not
# in the test fold (sex as corpus.speaker_sex gives it: both TESS voices are women).
SOURCES = {
    "actors": lambda c, sex: c == "RAVDESS",
    "actors and TESS": lambda c, sex: True,  # protocol (b)'s training voices, without a held-out split
    "women actors": lambda c, sex: c == "RAVDESS" and sex == "female",
    "men actors": lambda c, sex: c == "RAVDESS" and sex == "male",
}


def sex_table(data, log=print):
    """Accuracy on the test women and men of every RAVDESS fold, for each source of SOURCES.
    Returns {source: {"female": accuracy, "male": accuracy}} over the folds' actors."""
    x, labels = clip_inputs(data), np.asarray(data["labels"])
    corpora = np.asarray(data["corpus"])
    sexes = np.array([corpus.speaker_sex(c, s) for c, s in zip(corpora, data["speaker"])])
    folds = np.array([corpus.speaker_fold(c, s) for c, s in zip(corpora, data["speaker"])])
    ravdess_folds = sorted(set(folds[corpora == "RAVDESS"].tolist()))
    results = {}
    for source, keep in SOURCES.items():
        rule = np.array([keep(c, sex) for c, sex in zip(corpora, sexes)])
        predicted = np.full(len(labels), -1)
        for k in ravdess_folds:
            test = np.flatnonzero(folds == k)
            predicted[test] = transfer(x, labels, np.flatnonzero(rule & (folds != k)), test)
        tested = {sex: (predicted >= 0) & (sexes == sex) for sex in ("female", "male")}
        r = results[source] = {sex: float(np.mean(predicted[m] == labels[m])) for sex, m in tested.items()}
        log(f"trained on {source}: women {r['female']:.3f}, men {r['male']:.3f}, "
            f"men minus women {100 * (r['male'] - r['female']):+.1f} points "
            f"({tested['female'].sum()} and {tested['male'].sum()} files)")
    return results


def main(argv=None):
    sex_table(features_from_args(argv, __doc__))


if __name__ == "__main__":
    main()
