"""Pilot: blend our model with the seed's MFCC-mean model, the weight chosen on held-out speakers.

    python neural_network.py --seed 44 --protocols b --baseline none --no-ship \
        --predictions runs/ship44.csv --fold-cache runs/cache-44            # once: the 8 fold models
    python experiments/mfcc_blend.py --seed 44 --fold-cache runs/cache-44 --predictions runs/blend44.csv
    python neural_network.py --score-predictions runs/blend44.csv

Our model reads 3 s windows of log-mel frames; the seed's reads one vector per clip, the mean of its
40 MFCCs over time. The two see a voice differently, so they may err differently. For every
protocol (b) fold this script
  1. takes our fold model from --fold-cache (nothing of ours is trained here) and predicts the
     fold's held-out speakers and its test speakers with the test-time views chosen on the
     held-out speakers, as neural_network.py does;
  2. trains the seed's model (its own recipe: 50 epochs, no early stopping) on the fold's training
     files only, so that the held-out speakers stay unheard by both models;
  3. blends the two as a product of experts, p ~ p_ours ** (1 - w) * p_seed ** w, with w from
     WEIGHTS chosen by accuracy (ties go to the smaller w) in two ways, neither on the fold's test
     speakers:
       "blend"   on the fold's own held-out speakers (240 files, the first plan);
       "pooled"  on the held-out files of every other fold whose held-out speakers are not this
                 fold's test speakers, pooled (4 to 7 folds, 960 to 1680 predictions; the second
                 plan). A model trained on all files would take the w of every fold pooled.
       "unbiased"  as "pooled", but with ours predicting each held-out clip alone (the third
                 plan): the views ours predicts with were chosen on those same files to suit ours
                 alone, which tilts "blend" and "pooled" towards w = 0.
With --augmented-too it also trains a second seed-architecture model per fold on the fold's
training files plus their augmented copies (those our model trains on: noise, gain, speed, pitch,
reverberation, band limits, vocal-tract warp, tempo), and blends it by the "unbiased" rule (the
fourth plan, "unbiased_aug"): a mean MFCC vector that has seen warped and band-limited copies of
each voice may lean less on the training voices' own timbre.
The "logloss" rule (the fifth plan) chooses w on the same files as "unbiased", ours each clip
alone, by the lowest log-loss (mean negative log-probability of the true emotion) instead of the
highest accuracy: accuracy moves only where the top emotion changes, a few files in 1000 between
w = 0 and 0.1, while every file's probabilities move the log-loss.
Writes one predictions CSV (the columns of neural_network.py --predictions, clean clips only) with
six models: "cnn" (ours as neural_network.py predicts it), "seed" (the seed's model trained here),
"blend", "pooled", "unbiased" and "logloss" (and "seed_aug" and "unbiased_aug" with --augmented-too), and
prints each fold's choices, with the test accuracy every w would have had (read off the test
speakers: context, not a result).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402  (sets Keras's environment before Keras is imported)
import neural_network as nn  # noqa: E402
from create_features import FEATURES_FILE, FeaturesError  # noqa: E402

import numpy as np  # noqa: E402

# Weights of the seed's model tried on the held-out speakers (0: ours alone).
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fold-cache", type=Path, required=True, help="neural_network.py --fold-cache folder")
    parser.add_argument("--seed", type=int, default=nn.SEED, help="the seed the fold cache was trained with")
    parser.add_argument("--predictions", type=Path, required=True, help="the CSV written")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--augmented-too", action="store_true",
                        help="also blend a seed-architecture model trained with the augmented copies")
    args = parser.parse_args(argv)
    nn.SEED = args.seed  # run_settings records it, and the fold cache must match
    try:
        data = nn.load_data(args.features)
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    settings = nn.run_settings("cnn", data)
    feats, labels = data["features"], data["labels"]
    folds = nn.speaker_folds(data)
    present = set(folds.tolist())

    def missing():
        raise nn.FoldCacheError(f"{args.fold_cache}: a fold is missing; run neural_network.py "
                                f"--seed {args.seed} --fold-cache {args.fold_cache} first")

    per_fold = {}  # fold -> its held-out and test files, and both models' probabilities of them
    for k in sorted(present):
        v = nn.validation_fold(k, present)
        test, held = np.flatnonzero(folds == k), np.flatnonzero(folds == v)
        train = np.flatnonzero((folds != k) & (folds != v))
        try:
            run, _ = nn.cached_run(args.fold_cache, f"cnn-b-fold{k}", settings, missing)
        except nn.FoldCacheError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        net = nn.fold_model("cnn", run)
        # Ours, as run_fold predicts: views chosen on the held-out speakers, then the test speakers.
        held_alone = nn.predict("cnn", net, [feats[i] for i in held])
        noise_db, _, held_ours = nn.choose_test_time_noise("cnn", net, data, held, held_alone)
        warps, _, held_ours = nn.choose_test_time_warps("cnn", net, data, held, noise_db, held_ours)
        test_ours = nn.view_probs("cnn", net, data, test, noise_db, warps or ())
        # The seed's model, trained on this fold's training files only (its recipe, seed as ours).
        seed_net, _, _ = nn.fit("seed", [feats[i] for i in train], labels[train], seed=args.seed)
        per_fold[k] = {"held_fold": v, "held": held, "test": test,
                       "held_ours": held_ours, "held_alone": held_alone, "held_seed": nn.predict("seed", seed_net, [feats[i] for i in held]),
                       "test_ours": test_ours, "test_seed": nn.predict("seed", seed_net, [feats[i] for i in test])}
        if args.augmented_too:  # the same recipe on the training files and their augmented copies
            if data.get("augmented") is None:
                print(f"error: no augmented copies beside {args.features}; run create_features.py", file=sys.stderr)
                return 1
            nn.USE_AUGMENTED["seed"] = True
            aug_feats, aug_labels, _ = nn.training_set("seed", data, train)
            nn.USE_AUGMENTED["seed"] = False
            aug_net, _, _ = nn.fit("seed", aug_feats, aug_labels, seed=args.seed)
            per_fold[k].update(held_seed_aug=nn.predict("seed", aug_net, [feats[i] for i in held]),
                               test_seed_aug=nn.predict("seed", aug_net, [feats[i] for i in test]))
        print(f"fold {k}: views noise {nn.noise_db_text(noise_db)}, warps {nn.warps_text(warps)}", flush=True)

    def held_accuracy(ks, ours_key="held_ours", seed_key="held_seed"):
        """{w: accuracy} of the blend on the held-out files of folds ``ks``, pooled; ours with the
        views chosen on those files ("held_ours") or each clip alone ("held_alone"), the seed's
        model trained on the files alone ("held_seed") or with their augmented copies too."""
        y = np.concatenate([labels[per_fold[j]["held"]] for j in ks])
        ours = np.concatenate([per_fold[j][ours_key] for j in ks])
        seed = np.concatenate([per_fold[j][seed_key] for j in ks])
        return {w: float(np.mean(model_lib.blend(ours, seed, w).argmax(1) == y)) for w in WEIGHTS}

    def held_log_loss(ks):
        """{w: log-loss} of the blend on the held-out files of folds ``ks``, pooled, ours each clip alone."""
        y = np.concatenate([labels[per_fold[j]["held"]] for j in ks])
        ours = np.concatenate([per_fold[j]["held_alone"] for j in ks])
        seed = np.concatenate([per_fold[j]["held_seed"] for j in ks])
        return {w: float(-np.mean(np.log(np.clip(model_lib.blend(ours, seed, w)[np.arange(len(y)), y], 1e-12, 1))))
                for w in WEIGHTS}

    def best(accuracy):
        return max(WEIGHTS, key=lambda w: (accuracy[w], -w))  # ties go to the smaller w

    def lowest(loss):
        return min(WEIGHTS, key=lambda w: (loss[w], w))  # ties go to the smaller w

    names = ("cnn", "seed", "blend", "pooled", "unbiased", "logloss") + (("seed_aug", "unbiased_aug") if args.augmented_too else ())
    results = {name: {"idx": [], "probs": []} for name in names}
    for k, f in per_fold.items():
        # "blend": w chosen on this fold's held-out speakers. "pooled": on the held-out files of
        # every other fold whose held-out speakers are not this fold's test speakers.
        own = held_accuracy([k])
        others = [j for j in per_fold if j != k and per_fold[j]["held_fold"] != k]
        pooled = held_accuracy(others)
        unbiased = held_accuracy(others, "held_alone")
        loss = held_log_loss(others)
        y = labels[f["test"]]
        test_acc = {w: float(np.mean(model_lib.blend(f["test_ours"], f["test_seed"], w).argmax(1) == y)) for w in WEIGHTS}
        for name, probs in (("cnn", f["test_ours"]), ("seed", f["test_seed"]),
                            ("blend", model_lib.blend(f["test_ours"], f["test_seed"], best(own))),
                            ("pooled", model_lib.blend(f["test_ours"], f["test_seed"], best(pooled))),
                            ("unbiased", model_lib.blend(f["test_ours"], f["test_seed"], best(unbiased))),
                            ("logloss", model_lib.blend(f["test_ours"], f["test_seed"], lowest(loss)))):
            results[name]["idx"].append(f["test"])
            results[name]["probs"].append(probs)
        print(f"fold {k}: w {best(own):g} chosen on its held-out speakers (" + ", ".join(f"{w:g} {a:.3f}" for w, a in own.items())
              + f"), w {best(pooled):g} on folds {','.join(map(str, others))}'s pooled (" + ", ".join(f"{w:g} {a:.3f}" for w, a in pooled.items())
              + f"), w {best(unbiased):g} on the same files with ours each clip alone (" + ", ".join(f"{w:g} {a:.3f}" for w, a in unbiased.items())
              + f"); test accuracy ours {test_acc[0.0]:.3f}, blend {test_acc[best(own)]:.3f}, pooled {test_acc[best(pooled)]:.3f}, "
              f"unbiased {test_acc[best(unbiased)]:.3f}, seed alone "
              f"{np.mean(f['test_seed'].argmax(1) == y):.3f}; every w on the test speakers (context): "
              + ", ".join(f"{w:g} {a:.3f}" for w, a in test_acc.items()), flush=True)
        print(f"fold {k}: w {lowest(loss):g} by held-out log-loss on the same files ("
              + ", ".join(f"{w:g} {v:.4f}" for w, v in loss.items()) + f"); test accuracy {test_acc[lowest(loss)]:.3f}",
              flush=True)
        if args.augmented_too:
            aug = held_accuracy(others, "held_alone", "held_seed_aug")
            aug_test = {w: float(np.mean(model_lib.blend(f["test_ours"], f["test_seed_aug"], w).argmax(1) == y)) for w in WEIGHTS}
            for name, probs in (("seed_aug", f["test_seed_aug"]),
                                ("unbiased_aug", model_lib.blend(f["test_ours"], f["test_seed_aug"], best(aug)))):
                results[name]["idx"].append(f["test"])
                results[name]["probs"].append(probs)
            print(f"fold {k}, augmented MFCC model: w {best(aug):g} on the same files, ours each clip alone ("
                  + ", ".join(f"{w:g} {a:.3f}" for w, a in aug.items()) + f"); test accuracy unbiased_aug "
                  f"{aug_test[best(aug)]:.3f}, seed_aug alone {np.mean(f['test_seed_aug'].argmax(1) == y):.3f}; "
                  "every w on the test speakers (context): " + ", ".join(f"{w:g} {a:.3f}" for w, a in aug_test.items()), flush=True)
    rules = [("pooled", "held_ours", "held_seed"), ("unbiased", "held_alone", "held_seed")]
    rules += [("unbiased_aug", "held_alone", "held_seed_aug")] if args.augmented_too else []
    for rule, key, seed_key in rules:
        every = held_accuracy(list(per_fold), key, seed_key)
        print(f"a model trained on all files would take w {best(every):g} by the {rule} rule (every fold's "
              "held-out files pooled: " + ", ".join(f"{w:g} {a:.3f}" for w, a in every.items()) + ")")
    every = held_log_loss(list(per_fold))
    print(f"a model trained on all files would take w {lowest(every):g} by the logloss rule (every fold's "
          "held-out files pooled: " + ", ".join(f"{w:g} {v:.4f}" for w, v in every.items()) + ")")
    nn.write_predictions(args.predictions, data,
                         {name: {"b": {"idx": np.concatenate(r["idx"]), "probs": np.concatenate(r["probs"])}}
                          for name, r in results.items()})
    print(f"wrote {args.predictions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
