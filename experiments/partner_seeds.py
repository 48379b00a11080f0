"""Measured: the partner as the mean of several seeds' partners.

    python experiments/partner_seeds.py --run runs/cache42:42 --run runs/cache48:48 --run runs/cache49:49 \
        --run runs/cache50:50 --run runs/cache51:51                             # about 15 min

The partner (the seed's layers on each clip's MFCC means and prosody) trains in about a minute and
is blended into ours at 0.2. Its fold models depend on the training seed alone: every fold trains it
on the same files, and each kept fold cache of the README's seed table holds its seed's (see
neural_network.mfcc_fold). Averaging whole runs of the product gained on every pair of seeds
(experiments/README.md, "pairs of today's recipe averaged"); this averages the partner alone, at
almost no cost to the product: each fold's partner becomes the mean of the probabilities of every
``--run``'s partner of that fold (held-out files, test files and every robustness condition).

For each ``--run CACHE:SEED`` it runs the product's protocol (b) from the fold cache
(partner_weight.product_folds, as experiments/voice_views.py does; missing folds are trained),
then, for each seed's network, blends two arms into the same folds: the product (its own seed's
partner) and the partners' mean. Each arm chooses the partner's weight per fold as the product does
(neural_network.choose_blend_weights, on the other folds' held-out actors) and blends the third
voice last at each fold's weight chosen as the product chooses it. It prints each arm's (b) numbers
and robustness rows per seed, and the mean arm's gain over the product on the mean of the seeds.

Plan (2026-12-05, twenty-fourth session), committed before any number: experiments/README.md,
"Plan: the partner as the mean of five seeds' partners".

Verdict (2026-12-05): not shipped. −0.08 points on the mean of the five seeds (+0.54, +0.35, −0.35,
−0.09, −0.83; gained on 2), against a bar of +0.5 and a gain on four (experiments/README.md, "the
partners' mean fails its bar").
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import neural_network as nn  # noqa: E402
from modulation_voice import voice_probs  # noqa: E402
from neural_network import CLEAN, choose_third_voice_weights  # noqa: E402
from partner_weight import blend_folds  # noqa: E402
from voice_views import data_or_exit, print_gains, runs_parser, score_arms, seed_runs  # noqa: E402

import numpy as np  # noqa: E402

# The arms, by name.
PRODUCT, MEAN = "product", "partners' mean"


def mean_partners(partner_sets):
    """Each fold's partner as the mean of several seeds': ``partner_sets`` is one list per seed of
    mfcc_fold dicts, one per fold in the same order. Returns one such list."""
    out = []
    for fold in zip(*partner_sets):
        out.append({"held": np.mean([m["held"] for m in fold], axis=0),
                    "test": np.mean([m["test"] for m in fold], axis=0),
                    "conditions": {c: np.mean([m["conditions"][c] for m in fold], axis=0) for c in fold[0]["conditions"]},
                    "seconds": sum(m["seconds"] for m in fold)})
    return out


def fold_layout(data, runs):
    """(idx, labels, corpora, folds, ks) of product_folds' ``runs``: their test files in the runs'
    order, those files' emotions, corpora and protocol (b) folds, and each run's fold."""
    idx = np.concatenate([run["test"] for run in runs])
    every_fold = nn.speaker_folds(data)
    return (idx, np.asarray(data["labels"])[idx], np.asarray(data["corpus"])[idx], every_fold[idx],
            [int(every_fold[run["test"][0]]) for run in runs])


def blend_partner(data, runs, partner, folds, ks):
    """{CLEAN or condition: (len(idx), k)}: ours (each run's probabilities, clean and under each of
    its robustness conditions) blended with ``partner`` (mfcc_fold dicts, one per run) at the
    weight the product chooses on each fold (neural_network.choose_blend_weights); ``folds`` and
    ``ks`` as fold_layout gives them."""
    weights = dict(zip(ks, (w for w, _ in nn.choose_blend_weights(data, runs, partner)[0])))
    return {CLEAN: blend_folds(np.concatenate([run["probs"] for run in runs]),
                               np.concatenate([m["test"] for m in partner]), folds, weights),
            **{c: blend_folds(np.concatenate([run["conditions"][c] for run in runs]),
                              np.concatenate([m["conditions"][c] for m in partner]), folds, weights)
               for c in sorted(runs[0]["conditions"])}}


def arms(data, runs, partners, mean, trained):
    """Both arms on the same protocol (b) folds: runs and partners as product_folds gives them for
    one seed, ``mean`` the partners' mean (mean_partners; None: the product's arm alone), trained
    the third voice (neural_network.third_voice_b). Returns (idx, {arm: ({fold: the third voice's
    weight}, {CLEAN or condition: (len(idx), k)})})."""
    idx, labels, corpora, folds, ks = fold_layout(data, runs)
    third = {c: p[idx] for c, p in voice_probs(data, trained, sorted(runs[0]["conditions"])).items()}
    everyone = np.ones(len(idx), dtype=bool)
    out = {}
    for arm, partner in [(PRODUCT, partners)] + ([] if mean is None else [(MEAN, mean)]):
        blended = blend_partner(data, runs, partner, folds, ks)
        third_weights = choose_third_voice_weights(blended[CLEAN], third[CLEAN], labels, folds, everyone,
                                                   groups=corpora)
        out[arm] = third_weights, {c: blend_folds(blended[c], third[c], folds, third_weights) for c in blended}
    return idx, out


def main(argv=None):
    args = runs_parser(__doc__.split("\n")[0]).parse_args(argv)
    data = data_or_exit(args.features)
    seeds = list(seed_runs(data, args.run))  # every seed's runs first: each arm needs every partner
    tests = [[run["test"] for run in runs] for _, runs, _, _ in seeds]
    if any(len(t) != len(tests[0]) or not all(np.array_equal(a, b) for a, b in zip(t, tests[0])) for t in tests):
        sys.exit("error: the fold caches' runs test other files per fold (other features or --folds); "
                 "give runs of the same features")
    mean = mean_partners([partners for _, _, partners, _ in seeds])
    numbers = []
    for seed, runs, partners, trained in seeds:
        idx, out = arms(data, runs, partners, mean, trained)
        labels = np.asarray(data["labels"])[idx]
        numbers.append(score_arms(seed, data, idx, runs, {arm: (w, p[CLEAN]) for arm, (w, p) in out.items()}))
        for arm, (_, probs) in out.items():
            print(f"seed {seed}, {arm}: under " + ", ".join(
                f"{c} {np.mean(probs[c].argmax(axis=1) == labels):.3f}" for c in probs if c != CLEAN))
    print_gains(numbers, [seed for _, seed in args.run])


if __name__ == "__main__":
    main()
