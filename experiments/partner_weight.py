"""Measured: the partner's weight chosen by both corpora's voices, as the third voice's is.

    python experiments/partner_weight.py --fold-cache runs/cache42              # seed 42, about 10 min
    python experiments/partner_weight.py --fold-cache runs/cache48 --seed 48

The product blends its partner (the seed's layers on MFCC means and prosody) into our model at a
weight each protocol (b) fold chooses on the held-out RAVDESS actors of the other folds, with ours
predicting those clips alone (neural_network.choose_blend_weights); the third voice's weight is
chosen on the other folds' test files, each corpus counting the same
(neural_network.choose_third_voice_weights), so the TESS voices have a say in it. This chooses
the partner's weight by the third voice's rule too, among MFCC_BLEND_WEIGHTS, on ours as it
predicts at test time (its test-time views) and the partner, then blends the third voice last as
the product does, its weight chosen again after the new blend.

It runs the product's protocol (b) from ``--fold-cache`` (neural_network.evaluate; folds kept
there are read back, missing ones trained), keeps each fold's run and partner as evaluate chose
the product's weights on them, and blends both rules into the same folds. It prints, for each
rule, the partner's and the third voice's weight per fold, and (b) overall, per corpus and on the
RAVDESS women and men, the ECE and log-loss and each robustness condition. The product's rule
must give the product's number. ``--out`` writes the new rule's run (every condition) as a
predictions CSV for `neural_network.py --score-predictions`. ``--modulation`` also blends, by each
rule, the third voice with each clip's modulation spectrum beside its functionals
(experiments/modulation_voice.py), printed as "<rule> + modulation".

Verdict (2026-12-05): not shipped. The partner's weight by both corpora's voices gained on seeds
42 and 48 (+0.54, +0.31), short of its +0.5 bar, and lost on fresh seeds 49 and 50 (−0.19,
−0.94); with the modulation spectrum too, +0.17 on seed 49 and −1.25 on seed 50
(experiments/README.md, "the partner's weight chosen by both corpora's voices", "both near misses
together" and "the modulation spectrum fails on fresh seed 50").
"""

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402  (no Keras until a model is built or loaded)
import neural_network as nn  # noqa: E402
from compare_partner import describe, write_blended  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402
from modulation_voice import summary, voice_probs, with_modulation  # noqa: E402
from neural_network import CLEAN, choose_third_voice_weights  # noqa: E402

import numpy as np  # noqa: E402

# The two rules for the partner's weight, as the script names them.
PRODUCT, BOTH = "product's rule (held-out actors)", "both corpora's voices"


def product_folds(data, cache, log=print):
    """Run the product's protocol (b) from ``cache`` (neural_network.evaluate) and return (its
    result for "b", each fold's run_fold dict, each fold's partner: mfcc_fold's dict), the runs and
    partners as evaluate chose the partner's weights on them. The product as these experiments
    measured it: the third voice last, without the fourth voice shipped after them (twenty-sixth
    session)."""
    kept = {}
    choose, fourth = nn.choose_blend_weights, nn.FOURTH_VOICE

    def keeping(data, runs, mfccs, weights=None):  # what evaluate blends, kept as it is chosen
        kept["runs"], kept["mfccs"] = runs, mfccs
        return choose(data, runs, mfccs, weights)

    nn.choose_blend_weights, nn.FOURTH_VOICE = keeping, False
    try:
        result = nn.evaluate("cnn", data, ["b"], log=log, cache=cache)["b"]
    finally:
        nn.choose_blend_weights, nn.FOURTH_VOICE = choose, fourth
    return result, kept["runs"], kept["mfccs"]


def rule_runs(data, runs, partners, trained):
    """Both rules for the partner's weight on the same folds, the third voice (third_voice_b's
    ``trained``) blended last, each fold's weight chosen after the partner's blend as the product
    chooses it. Returns (idx: the test files in the runs' order, {rule: (the partner's weight per
    fold, the third voice's weight per fold, {condition: final probabilities (len(idx), k)})})."""
    idx = np.concatenate([run["test"] for run in runs])
    labels, corpora = np.asarray(data["labels"])[idx], np.asarray(data["corpus"])[idx]
    every_fold = nn.speaker_folds(data)
    folds = every_fold[idx]
    conditions = sorted(runs[0]["conditions"])
    ours = {CLEAN: np.concatenate([run["probs"] for run in runs]),
            **{c: np.concatenate([run["conditions"][c] for run in runs]) for c in conditions}}
    partner = {CLEAN: np.concatenate([m["test"] for m in partners]),
               **{c: np.concatenate([m["conditions"][c] for m in partners]) for c in conditions}}
    third = {c: p[idx] for c, p in voice_probs(data, trained, conditions).items()}
    everyone = np.ones(len(idx), dtype=bool)
    ks = [int(every_fold[run["test"][0]]) for run in runs]
    product = [w for w, _ in nn.choose_blend_weights(data, runs, partners)[0]]
    rules = {PRODUCT: dict(zip(ks, product)),
             BOTH: choose_third_voice_weights(ours[CLEAN], partner[CLEAN], labels, folds, everyone,
                                              groups=corpora, weights=nn.MFCC_BLEND_WEIGHTS)}
    out = {}
    for rule, weights in rules.items():
        blended = {c: blend_folds(ours[c], partner[c], folds, weights) for c in ours}
        third_weights = choose_third_voice_weights(blended[CLEAN], third[CLEAN], labels, folds, everyone,
                                                   groups=corpora)
        out[rule] = weights, third_weights, {c: blend_folds(blended[c], third[c], folds, third_weights) for c in ours}
    return idx, out


def blend_folds(probs, other, folds, weights):
    """``probs`` blended with ``other`` (model.blend), each fold k of ``folds`` at weights[k]."""
    out = np.zeros_like(probs)
    for k, w in weights.items():
        out[folds == k] = model_lib.blend(probs[folds == k], other[folds == k], w)
    return out


def fold_cache_parser(description):
    """An argument parser for a script that blends into a README run's kept folds: --fold-cache,
    --seed and --features; the script adds its own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fold-cache", type=Path, required=True,
                        help="the fold cache of a README run (neural_network.py --fold-cache) of this --seed")
    parser.add_argument("--seed", type=int, default=nn.SEED, help=f"the run's seed (default {nn.SEED})")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    return parser


def kept_run(cache):
    """``cache``, checked to hold our network's kept protocol (b) folds (a README run's
    --fold-cache), so that a mistyped folder never starts training every fold from nothing.
    Raises nn.FoldCacheError saying what to give instead."""
    if not any(Path(cache).glob("cnn-b-fold*.joblib")):
        raise nn.FoldCacheError(f"{cache}: holds no kept protocol (b) folds (cnn-b-fold*.joblib); give the "
                                "--fold-cache of a README run (neural_network.py --fold-cache)")
    return cache


@contextlib.contextmanager
def bad_input_exits():
    """Turn a missing file, a bad features file or a bad fold cache met inside the block into one
    line naming it on stderr and exit status 1."""
    try:
        yield
    except FileNotFoundError as err:
        sys.exit(f"error: {err.filename}: no such file")
    except (nn.FeaturesError, nn.FoldCacheError) as err:
        sys.exit(f"error: {err}")


def main(argv=None):
    parser = fold_cache_parser(__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="the new rule's predictions CSV to write")
    parser.add_argument("--modulation", action="store_true",
                        help="also blend, by both rules, the third voice with each clip's modulation spectrum "
                             "(experiments/modulation_voice.py; its classifiers kept in the cache's folder "
                             "'modulation', made if missing)")
    args = parser.parse_args(argv)
    nn.SEED = args.seed
    with bad_input_exits():
        data = nn.load_data(args.features)
        _, runs, partners = product_folds(data, kept_run(args.fold_cache))
        voices = {"": (data, nn.third_voice_b(data, args.fold_cache))}
        if args.modulation:
            modulated = with_modulation(data)
            (args.fold_cache / "modulation").mkdir(exist_ok=True)
            voices[" + modulation"] = modulated, nn.third_voice_b(modulated, args.fold_cache / "modulation")
    idx = np.concatenate([run["test"] for run in runs])
    labels = np.asarray(data["labels"])[idx]
    rows = [dict(model="cnn", corpus=c, speaker=s, path=p, fold=str(f), emotion=e) for c, s, p, f, e in zip(
        *(np.asarray(data[key])[idx] for key in ("corpus", "speaker", "path")), nn.speaker_folds(data)[idx],
        np.asarray(data["emotion"])[idx])]
    print(f"seed {args.seed}, ours alone: {describe(np.concatenate([run['probs'] for run in runs]), labels, rows)}")
    for voice, (voice_data, trained) in voices.items():
        for rule, (weights, third_weights, final) in rule_runs(voice_data, runs, partners, trained)[1].items():
            name = rule + voice
            print(f"{name}: partner's w per fold " + ", ".join(f"{k}: {w:.2f}" for k, w in sorted(weights.items()))
                  + "; third voice's " + ", ".join(f"{k}: {w:.2f}" for k, w in sorted(third_weights.items())))
            print(f"{name}: (b) {summary(final[CLEAN], labels, rows)}; "
                  f"right {int(np.sum(final[CLEAN].argmax(axis=1) == labels))} of {len(labels)}")
            print(f"{name}: under " + ", ".join(f"{c} {np.mean(final[c].argmax(axis=1) == labels):.3f}"
                                                for c in final if c != CLEAN))
            if args.out and name == BOTH:
                write_blended(args.out, [dict(r, condition=c) for c in final for r in rows],
                              np.concatenate([final[c] for c in final]))
                print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
