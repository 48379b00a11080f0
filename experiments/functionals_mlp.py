"""Measured: a small neural network on the functionals, beside or in place of the third voice.

    python experiments/functionals_mlp.py --keep runs/functionals_mlp --run runs/cache42:42   # one seed
    python experiments/functionals_mlp.py --keep runs/functionals_mlp --run runs/cache42:42 \
        --run runs/cache48:48 --run runs/cache49:49 --run runs/cache50:50 --run runs/cache51:51

The third voice is a logistic regression on each clip's 2036 functionals (audio.functionals),
trained on every other fold's files and their augmented copies: a line between every two emotions.
This trains a network of one hidden layer on the same rows (``mlp_classifier``: the functionals
scaled, 256 rectified units, an L2 penalty MLP_SETTINGS names; each fold's network trained on the
other folds' files and copies, as the third voice's classifier is; about 4 min for the 8 folds,
kept in ``--keep`` and read back: it does not depend on the seed). It prints both voices alone
under protocol (b), then, for each ``--run CACHE:SEED`` (the product's protocol (b) from that fold
cache, as experiments/voice_views.py runs it), four arms on the same folds: the product; the
network in place of the logistic regression; the two averaged as the third voice; and the network
as a fourth voice after the third. Each last voice is blended at each fold's weight chosen as the
product chooses the third voice's (neural_network.choose_third_voice_weights: the other folds'
files, each corpus counting the same). It prints each arm's (b) numbers and robustness rows per
seed, and each arm's gain over the product on the mean of the seeds.

Plan (2026-12-05, twenty-fourth session), committed before any blended number: experiments/README.md,
"Plan: a network on the functionals".

Verdict (2026-12-05): not shipped. On the five seeds' mean, the network in place of the third voice
−0.27 points, averaged with it −0.09, as a fourth voice −0.48, each gaining on one seed of five,
against a bar of +0.5 and a gain on four (experiments/README.md, "the network on the functionals
fails its bar").
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import neural_network as nn  # noqa: E402
from neural_network import CLEAN, choose_third_voice_weights  # noqa: E402
from modulation_voice import voice_probs  # noqa: E402
from partner_seeds import blend_partner, fold_layout  # noqa: E402
from partner_weight import blend_folds  # noqa: E402
from voice_views import data_or_exit, print_gains, runs_parser, score_arms, seed_runs  # noqa: E402

import numpy as np  # noqa: E402

# The network: one hidden layer of this many rectified units, this L2 penalty (scikit-learn's
# alpha) and this many passes over the rows (Adam, scikit-learn's defaults otherwise), this seed.
MLP_SETTINGS = {"hidden_layer_sizes": (256,), "alpha": 1.0, "max_iter": 200, "random_state": 0}
# The arms, by name.
PRODUCT, IN_PLACE, AVERAGED, FOURTH = ("product", "network in place of the third voice",
                                       "network and third voice averaged", "network as a fourth voice")


def mlp_classifier():
    """The network, untrained: each functional scaled by the training rows, then MLP_SETTINGS."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # max_iter is a setting here, not a failure
    return make_pipeline(StandardScaler(), MLPClassifier(**MLP_SETTINGS))


def mlp_folds(data, keep=None, log=print):
    """{fold: a trained mlp_classifier} for every protocol (b) fold, each trained on the other folds'
    files and their augmented copies (neural_network.third_voice_rows). keep: a folder where they
    are kept as "functionals-mlp-b" and read back (neural_network.cached_run)."""
    folds = nn.speaker_folds(data)

    def train():
        start = time.perf_counter()
        x, labels, origin = nn.third_voice_rows(data, np.arange(len(data["labels"])), augmented=True)
        trained = {}
        for k in (int(k) for k in np.unique(folds)):
            trained[k] = mlp_classifier().fit(x[folds[origin] != k], labels[folds[origin] != k])
            log(f"  network of fold {k} trained ({time.perf_counter() - start:.0f} s)")
        return {"classifiers": trained, "seconds": round(time.perf_counter() - start, 1)}

    settings = None
    if keep is not None:
        Path(keep).mkdir(parents=True, exist_ok=True)
        settings = {**nn.third_voice_settings(data, "functionals-mlp-b", augmented=True),
                    "mlp": dict(MLP_SETTINGS, hidden_layer_sizes=list(MLP_SETTINGS["hidden_layer_sizes"])),
                    "mlp_code": nn.source(mlp_classifier) + nn.source(mlp_folds)}
    trained, _ = nn.cached_run(keep, "functionals-mlp-b", settings, train)
    return trained


def arms(data, runs, partners, third, network):
    """The four arms on the same protocol (b) folds. runs, partners: partner_weight.product_folds'
    (before the blend); third, network: modulation_voice.voice_probs of the third voice and the
    network.
    Returns (idx, {arm: ({fold: the last voice's weight}, {CLEAN or condition: (len(idx), k)})})."""
    idx, labels, corpora, folds, ks = fold_layout(data, runs)
    blended = blend_partner(data, runs, partners, folds, ks)
    third = {c: p[idx] for c, p in third.items()}
    network = {c: p[idx] for c, p in network.items()}
    everyone = np.ones(len(idx), dtype=bool)

    def last(before, voice):  # ``voice`` blended into ``before`` at each fold's chosen weight
        weights = choose_third_voice_weights(before[CLEAN], voice[CLEAN], labels, folds, everyone, groups=corpora)
        return weights, {c: blend_folds(before[c], voice[c], folds, weights) for c in before}

    out = {PRODUCT: last(blended, third), IN_PLACE: last(blended, network),
           AVERAGED: last(blended, {c: (third[c] + network[c]) / 2 for c in blended})}
    out[FOURTH] = last(out[PRODUCT][1], network)
    return idx, out


def main(argv=None):
    parser = runs_parser(__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="folder to keep the network's fold classifiers in, and read them "
                                                 "back from (they do not depend on the seed)")
    args = parser.parse_args(argv)
    data = data_or_exit(args.features)
    conditions = sorted(data["robustness"])
    try:
        network = voice_probs(data, mlp_folds(data, args.keep), conditions)
    except nn.FoldCacheError as err:
        sys.exit(f"error: {err}")
    labels, corpora = np.asarray(data["labels"]), np.asarray(data["corpus"])
    numbers = []
    for i, (seed, runs, partners, trained) in enumerate(seed_runs(data, args.run)):
        if i == 0:  # both voices alone: they do not depend on the seed
            third = voice_probs(data, trained, conditions)
            for name, probs in (("third voice", third), ("network", network)):
                hit = probs[CLEAN].argmax(axis=1) == labels
                print(f"{name} alone under (b): overall {hit.mean():.3f}, RAVDESS {hit[corpora == 'RAVDESS'].mean():.3f}, "
                      f"TESS {hit[corpora == 'TESS'].mean():.3f}; ECE "
                      f"{nn.expected_calibration_error(probs[CLEAN], labels):.3f}", flush=True)
        idx, out = arms(data, runs, partners, third, network)
        numbers.append(score_arms(seed, data, idx, runs, {arm: (w, p[CLEAN]) for arm, (w, p) in out.items()},
                                  weights_name="last voice's"))
        for arm, (_, probs) in out.items():
            print(f"seed {seed}, {arm}: under " + ", ".join(
                f"{c} {np.mean(probs[c].argmax(axis=1) == labels[idx]):.3f}" for c in conditions))
    print_gains(numbers, [seed for _, seed in args.run])


if __name__ == "__main__":
    main()
