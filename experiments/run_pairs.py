"""Measured: two runs' networks averaged, then blended as the product blends one.

    python experiments/run_pairs.py --run runs/cache42:42 --run runs/cache48:48 --run runs/cache49:49 \
        --run runs/cache50:50 --run runs/cache51:51                             # about 15 min

Averaging two whole runs' final probabilities gained on every pair of five seeds
(experiments/README.md, "pairs of today's recipe averaged"). A product that shipped two networks
would rather average the networks and then blend the partner and the third voice once, each weight
chosen on the averaged network as the product chooses it. This measures that: for every pair of
``--run``s, each fold's network probabilities (test files with their views, the held-out files each
clip alone, every robustness condition) are the mean of the two runs' (``mean_runs``), its partner
the mean of the two seeds' partners (partner_seeds.mean_partners), then the product's blend
(partner_seeds.arms: the partner's weight per fold on the other folds' held-out actors, the third
voice last at each fold's weight chosen on the other folds' files). It prints each pair's (b)
numbers beside its two runs' own, and the gain over the mean of the two on the mean of the pairs.
Measured only; nothing ships from it.

Measured (2026-12-05): on the ten pairs of seeds 42, 48, 49, 50 and 51, +0.59 points on the mean
(−0.18 to +1.08; nine gained; RAVDESS +0.81, TESS +0.48); experiments/README.md, "two runs'
networks averaged, then blended as the product blends one".
"""

import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from neural_network import CLEAN  # noqa: E402
from partner_seeds import PRODUCT, arms, mean_partners  # noqa: E402
from voice_views import data_or_exit, runs_parser, seed_runs  # noqa: E402

import numpy as np  # noqa: E402


def mean_runs(run_sets):
    """Each fold's run as the mean of several seeds' (run_fold dicts before the blend, one list per
    seed, folds in the same order, testing the same files): the probabilities of its test files
    ("probs"), of its held-out files each clip alone ("held_single") and of its test files under
    each robustness condition ("conditions") averaged; the rest is the first seed's."""
    out = []
    for fold in zip(*run_sets):
        if any(not np.array_equal(run["test"], fold[0]["test"]) or not np.array_equal(run["held"], fold[0]["held"])
               for run in fold):
            raise ValueError("the runs test or hold out other files in one fold; give runs of the same features")
        out.append(dict(fold[0], probs=np.mean([run["probs"] for run in fold], axis=0),
                        held_single=np.mean([run["held_single"] for run in fold], axis=0),
                        conditions={c: np.mean([run["conditions"][c] for run in fold], axis=0)
                                    for c in fold[0]["conditions"]}))
    return out


def product_scores(data, runs, partners, trained):
    """(overall, RAVDESS, TESS accuracy, files right) of the product's blend (partner_seeds.arms'
    PRODUCT arm) of ``runs`` and ``partners``, and its (n, k) clean probabilities."""
    idx, out = arms(data, runs, partners, None, trained)
    probs = out[PRODUCT][1][CLEAN]
    labels = np.asarray(data["labels"])[idx]
    right = probs.argmax(axis=1) == labels
    corpora = np.asarray(data["corpus"])[idx]
    return np.array([right.mean(), right[corpora == "RAVDESS"].mean(), right[corpora == "TESS"].mean(),
                     right.sum()]), probs


def main(argv=None):
    args = runs_parser(__doc__.split("\n")[0]).parse_args(argv)
    data = data_or_exit(args.features)
    seeds = {seed: (runs, partners, trained) for seed, runs, partners, trained in seed_runs(data, args.run)}
    alone = {seed: product_scores(data, *kept)[0] for seed, kept in seeds.items()}
    for seed, s in alone.items():
        print(f"seed {seed} alone: overall {s[0]:.3f}, RAVDESS {s[1]:.3f}, TESS {s[2]:.3f}, right {int(s[3])}")
    gains = []
    for a, b in itertools.combinations(seeds, 2):
        try:
            runs = mean_runs([seeds[a][0], seeds[b][0]])
        except ValueError as err:
            sys.exit(f"error: seeds {a} and {b}: {err}")
        pair, _ = product_scores(data, runs, mean_partners([seeds[a][1], seeds[b][1]]), seeds[a][2])
        gain = pair - (alone[a] + alone[b]) / 2
        gains.append(gain)
        print(f"seeds {a} + {b}: overall {pair[0]:.3f}, RAVDESS {pair[1]:.3f}, TESS {pair[2]:.3f}, right {int(pair[3])}; "
              f"against their mean {100 * gain[0]:+.2f} points (RAVDESS {100 * gain[1]:+.2f}, TESS {100 * gain[2]:+.2f})",
              flush=True)
    g = np.array(gains)
    print(f"mean of {len(g)} pairs: {100 * g[:, 0].mean():+.2f} points overall (from {100 * g[:, 0].min():+.2f} to "
          f"{100 * g[:, 0].max():+.2f}; gained on {int(np.sum(g[:, 0] > 0))}), RAVDESS {100 * g[:, 1].mean():+.2f}, "
          f"TESS {100 * g[:, 2].mean():+.2f}")


if __name__ == "__main__":
    main()
