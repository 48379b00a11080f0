"""Measured: the partner and the third voice heard over each clip's noisy copies, as ours is.

    python experiments/voice_views.py --run runs/cache42:42                     # one seed, about 3 min
    python experiments/voice_views.py --run runs/cache42:42 --run runs/cache48:48 --run runs/cache49:49 \
        --run runs/cache50:50 --run runs/cache51:51                             # the plan's five seeds

Ours predicts each clip as the mean of its views: the clip and its copies with white noise 20 and
10 dB below its speech power, each also warped (model.clip_views); that averaging gained 2.75
points under protocol (b) on the mean of two seeds when it came to every fold (experiments/README.md,
"both noisy copies on every fold"). The partner (MFCC means and prosody) and the third voice (the
functionals) hear the clip alone. This averages their probabilities too over the clip and its two
noisy copies: each file's probabilities under the robustness conditions noise_20db and noise_10db,
which create_features.py stores for every file (white noise 20 and 10 dB below the file's speech
power, seeded by its path), from the fold's own partner and third voice.

For each ``--run CACHE:SEED`` it runs the product's protocol (b) from the fold cache
(partner_weight.product_folds: neural_network.evaluate, kept folds read back, missing ones trained,
about 50 min a seed here), then blends four arms into the same folds: the product, the third voice
over the views, the partner over the views, and both. Every arm blends the partner at the weights
the product chose on each fold (on held-out actors, the clips alone) and the third voice last, each
fold's weight chosen again as the product chooses it (neural_network.choose_third_voice_weights:
the other folds' files, each corpus counting the same). The product's arm must give the product's
numbers. It prints, per seed and arm, (b) overall, per corpus and on the RAVDESS women and men,
happy's recall, the ECE and log-loss, and at the end each arm's gain over the product on the mean
of the seeds given and on how many of them it gained. Only clean files are scored: a product that
averaged over noisy copies would need, for its robustness rows, each condition's copies' features,
which are not stored.

Plan (2026-12-05, twenty-fourth session), committed before any number: experiments/README.md,
"Plan: the partner and the third voice over the noisy copies".

Verdict (2026-12-05): not shipped. On the five seeds' mean the third voice over the copies lost
0.68 points (gaining on one seed of five), the partner over them 0.05 (+0.68 to −0.90 by seed), both
0.78, against a bar of +0.5 and a gain on four seeds (experiments/README.md, "neither the partner
nor the third voice gains over the noisy copies").
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import neural_network as nn  # noqa: E402
import corpus  # noqa: E402
from compare_partner import describe  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402
from modulation_voice import summary, voice_probs  # noqa: E402
from neural_network import CLEAN, choose_third_voice_weights  # noqa: E402
from partner_weight import blend_folds, kept_run, product_folds  # noqa: E402

import numpy as np  # noqa: E402

# The views averaged: the clip, then its copies with white noise 20 and 10 dB below its speech
# power, as the robustness conditions store them (ours hears copies at the same SNRs).
VIEWS = (CLEAN, "noise_20db", "noise_10db")
# The arms: their names, and whether each averages the partner, the third voice, over VIEWS.
PRODUCT = "product"
ARMS = {PRODUCT: (False, False), "third voice over views": (False, True),
        "partner over views": (True, False), "both over views": (True, True)}


def view_mean(probs, views=VIEWS):
    """The mean of ``probs`` ({view: (n, k) probabilities}) over ``views``: (n, k)."""
    return np.mean([probs[v] for v in views], axis=0)


def arms(data, runs, partners, trained):
    """Every arm of ARMS blended into the same protocol (b) folds. runs, partners: product_folds'
    (each fold's run and partner, before the blend); trained: neural_network.third_voice_b's.
    Returns (idx: the test files in the runs' order, {arm: ({fold: the third voice's weight},
    (len(idx), k) final probabilities)})."""
    idx = np.concatenate([run["test"] for run in runs])
    labels, corpora = np.asarray(data["labels"])[idx], np.asarray(data["corpus"])[idx]
    every_fold = nn.speaker_folds(data)
    folds = every_fold[idx]
    ours = np.concatenate([run["probs"] for run in runs])
    partner = {CLEAN: np.concatenate([m["test"] for m in partners]),
               **{v: np.concatenate([m["conditions"][v] for m in partners]) for v in VIEWS[1:]}}
    third = {v: p[idx] for v, p in voice_probs(data, trained, VIEWS[1:]).items()}
    ks = [int(every_fold[run["test"][0]]) for run in runs]
    partner_weights = dict(zip(ks, (w for w, _ in nn.choose_blend_weights(data, runs, partners)[0])))
    everyone = np.ones(len(idx), dtype=bool)
    out = {}
    for arm, (partner_views, third_views) in ARMS.items():
        blended = blend_folds(ours, view_mean(partner) if partner_views else partner[CLEAN], folds, partner_weights)
        voice = view_mean(third) if third_views else third[CLEAN]
        weights = choose_third_voice_weights(blended, voice, labels, folds, everyone, groups=corpora)
        out[arm] = weights, blend_folds(blended, voice, folds, weights)
    return idx, out


def run_arg(text):
    """"CACHE:SEED" -> (Path, int)."""
    cache, sep, seed = text.rpartition(":")
    if not sep or not seed.lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a fold cache and its seed as CACHE:SEED")
    return Path(cache), int(seed)


def runs_parser(description):
    """An argparse parser with --run CACHE:SEED (repeatable) and --features."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", type=run_arg, action="append", required=True, metavar="CACHE:SEED",
                        help="the fold cache of a README run (neural_network.py --fold-cache) and its seed; repeat "
                             "for more seeds")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    return parser


def data_or_exit(features):
    """neural_network.load_data(features), or exit with a one-line error naming the file."""
    try:
        data = nn.load_data(features)
    except FileNotFoundError as err:
        sys.exit(f"error: {err.filename}: no such file")
    except nn.FeaturesError as err:
        sys.exit(f"error: {err}")
    if data["robustness"] is None or any(v not in data["robustness"] for v in VIEWS[1:]):
        sys.exit(f"error: {features}: no robustness conditions {', '.join(VIEWS[1:])} beside it; "
                 "re-run `python create_features.py` without --no-robustness")
    return data


def seed_runs(data, run_args):
    """For each (cache, seed) of ``run_args``: (seed, runs, partners, trained), product_folds' runs and
    partners of that seed's fold cache and the third voice kept there (neural_network.third_voice_b);
    exits with a one-line error for a fold cache that cannot be used."""
    for cache, seed in run_args:
        nn.SEED = seed
        try:
            _, runs, partners = product_folds(data, kept_run(cache), log=lambda *_: None)
            trained = nn.third_voice_b(data, cache, log=lambda *_: None)
        except nn.FoldCacheError as err:
            sys.exit(f"error: {err}")
        yield seed, runs, partners, trained


def score_arms(seed, data, idx, runs, out, *, weights_name="third voice's"):
    """Print ours alone and every arm of ``out`` ({arm: ({fold: the last voice's weight}, (len(idx), k)
    final probabilities)}) for one seed, the weights as ``weights_name``; returns {arm: (overall,
    RAVDESS, TESS accuracy, ECE)}."""
    labels = np.asarray(data["labels"])[idx]
    rows = [dict(corpus=c, speaker=s) for c, s in zip(np.asarray(data["corpus"])[idx],
                                                      np.asarray(data["speaker"])[idx])]
    print(f"seed {seed}, ours alone: {describe(np.concatenate([run['probs'] for run in runs]), labels, rows)}")
    numbers = {}
    for arm, (weights, final) in out.items():
        preds = final.argmax(axis=1)
        happy = corpus.EMOTIONS.index("happy")
        scored = nn.scores(labels, preds, [r["corpus"] for r in rows])
        numbers[arm] = np.array([scored["all"]["accuracy"], scored["RAVDESS"]["accuracy"],
                                 scored["TESS"]["accuracy"], nn.expected_calibration_error(final, labels)])
        print(f"seed {seed}, {arm}: {summary(final, labels, rows)}; happy recall "
              f"{np.mean(preds[labels == happy] == happy):.3f}; right {int(np.sum(preds == labels))} of "
              f"{len(labels)}; {weights_name} w per fold " + ", ".join(f"{k}: {w:.2f}" for k, w in sorted(weights.items())),
              flush=True)
    return numbers


def print_gains(numbers, seeds, product=PRODUCT):
    """Each arm's gain over ``product``: ``numbers`` is a list, one per seed of ``seeds``, of
    score_arms' dicts."""
    print(f"gain over the {product}, mean of {len(seeds)} seed(s) (" + ", ".join(str(s) for s in seeds) + "):")
    for arm in (a for a in numbers[0] if a != product):
        g = np.array([n[arm] - n[product] for n in numbers])  # (overall, RAVDESS, TESS, ECE) per seed
        print(f"  {arm}: overall {100 * g[:, 0].mean():+.2f} points (per seed "
              + ", ".join(f"{100 * x:+.2f}" for x in g[:, 0]) + f"; gained on {int(np.sum(g[:, 0] > 0))} of {len(g)}), "
              f"RAVDESS {100 * g[:, 1].mean():+.2f}, TESS {100 * g[:, 2].mean():+.2f}, ECE {g[:, 3].mean():+.3f}")


def main(argv=None):
    args = runs_parser(__doc__.split("\n")[0]).parse_args(argv)
    data = data_or_exit(args.features)
    numbers = []
    for seed, runs, partners, trained in seed_runs(data, args.run):
        idx, out = arms(data, runs, partners, trained)
        numbers.append(score_arms(seed, data, idx, runs, out))
    print_gains(numbers, [seed for _, seed in args.run])


if __name__ == "__main__":
    main()
