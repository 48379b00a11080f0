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
  3. blends the two as a product of experts, p ~ p_ours ** (1 - w) * p_seed ** w, choosing w from
     WEIGHTS by accuracy on the held-out speakers (ties go to the smaller w), never on the test
     speakers.
Writes one predictions CSV (the columns of neural_network.py --predictions, clean clips only) with
three models: "cnn" (ours as neural_network.py predicts it), "seed" (the seed's model trained here)
and "blend" (the chosen blend), and prints each fold's choice, with the test accuracy every w would
have had (read off the test speakers: context, not a result).
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


def blend(ours, seed, weight):
    """Product-of-experts blend of two probability arrays (n, n_emotions), renormalised per row."""
    log_p = (1 - weight) * np.log(np.clip(ours, 1e-7, 1)) + weight * np.log(np.clip(seed, 1e-7, 1))
    p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fold-cache", type=Path, required=True, help="neural_network.py --fold-cache folder")
    parser.add_argument("--seed", type=int, default=nn.SEED, help="the seed the fold cache was trained with")
    parser.add_argument("--predictions", type=Path, required=True, help="the CSV written")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
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

    results = {name: {"idx": [], "probs": []} for name in ("cnn", "seed", "blend")}
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
        held_ours = nn.predict("cnn", net, [feats[i] for i in held])
        noise_db, _, held_ours = nn.choose_test_time_noise("cnn", net, data, held, held_ours)
        warps, _, held_ours = nn.choose_test_time_warps("cnn", net, data, held, noise_db, held_ours)
        test_ours = nn.view_probs("cnn", net, data, test, noise_db, warps or ())
        # The seed's model, trained on this fold's training files only (its recipe, seed as ours).
        seed_net, _, _ = nn.fit("seed", [feats[i] for i in train], labels[train], seed=args.seed)
        held_seed = nn.predict("seed", seed_net, [feats[i] for i in held])
        test_seed = nn.predict("seed", seed_net, [feats[i] for i in test])
        held_acc = {w: float(np.mean(blend(held_ours, held_seed, w).argmax(1) == labels[held])) for w in WEIGHTS}
        test_acc = {w: float(np.mean(blend(test_ours, test_seed, w).argmax(1) == labels[test])) for w in WEIGHTS}
        chosen = max(WEIGHTS, key=lambda w: (held_acc[w], -w))
        for name, probs in (("cnn", test_ours), ("seed", test_seed), ("blend", blend(test_ours, test_seed, chosen))):
            results[name]["idx"].append(test)
            results[name]["probs"].append(probs)
        print(f"fold {k}: views noise {nn.noise_db_text(noise_db)}, warps {nn.warps_text(warps)}; "
              f"w {chosen:g} chosen (held-out accuracy " + ", ".join(f"{w:g} {a:.3f}" for w, a in held_acc.items())
              + f"); test accuracy ours {test_acc[0.0]:.3f}, blend {test_acc[chosen]:.3f}, seed alone "
              f"{np.mean(test_seed.argmax(1) == labels[test]):.3f}; every w on the test speakers (context): "
              + ", ".join(f"{w:g} {a:.3f}" for w, a in test_acc.items()), flush=True)
    nn.write_predictions(args.predictions, data,
                         {name: {"b": {"idx": np.concatenate(r["idx"]), "probs": np.concatenate(r["probs"])}}
                          for name, r in results.items()})
    print(f"wrote {args.predictions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
