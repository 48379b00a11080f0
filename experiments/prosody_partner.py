"""Pilot: a partner for ours that reads a clip's pitch and loudness contours, not its spectrum.

    python neural_network.py --seed 42 --protocols b --baseline none --no-ship --mfcc-blend none \
        --predictions runs/ours42.csv --fold-cache runs/cache42       # once: ours on every fold
    python experiments/prosody_partner.py --seed 42 --ours runs/ours42.csv \
        --predictions runs/prosody42.csv [--fold-cache runs/cache42]
    python neural_network.py --score-predictions runs/prosody42.csv

The shipped partner (model.blend with the seed's MFCC-mean model) helps most on the unseen TESS
voices, and every partner tried so far (experiments/partner_views.py) read MFCC summaries. This
one reads prosody: how high the voice is and how its pitch moves, how loud it is and how its
loudness moves, and how much of the clip is voiced and in how many stretches. Emotion shows in
all of these, and none is what a mean spectrum holds, so such a partner may err differently.

Every clip's prosody is audio.prosody (moved there from this pilot unchanged; since
FEATURE_VERSION 3 its pitch track runs at 8 kHz every 20 ms, so this pilot's recorded numbers
came from the earlier track), audio.N_PROSODY numbers read from the features file
(create_features.py). These are scaled by each fold's
training files (mean 0, spread 1) and read by the seed's layers and recipe (partner_views.partner,
50 epochs), trained on each protocol (b) fold's training files as the shipped partner is. The
"mean+prosody" partner is what neural_network.py now builds as model.PARTNER.

For every fold it trains three partners: "mean" (the shipped partner, the 40 MFCC means, as a
check that this run reproduces the shipped blend), "prosody" and "mean+prosody" (the two side by
side in one vector). It scores ours (the "cnn" rows of --ours, unblended), the shipped blend
("mean w0.1"), and at every weight of partner_views.FIXED_WEIGHTS: "prosody w<w>" and
"mean+prosody w<w>" in place of the shipped partner, and "shipped+prosody w<w>", the shipped
blend blended again with the prosody partner. The weights are read off the test speakers, so these
numbers compare partners and choose nothing. With --fold-cache (the folder of the run that wrote
--ours) it also chooses every weight per fold on held-out speakers, as the shipped blend's is
chosen (held_out_choice), and scores "shipped, chosen", "mean+prosody, chosen" and
"shipped+prosody, chosen". Writes one predictions CSV (clean clips only) of all of these, and
prints a line for each.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402  (sets Keras's environment before Keras is imported)
import neural_network as nn  # noqa: E402
import audio  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402
from partner_views import fold_probs, read_ours, scorer, weighed  # noqa: E402

import numpy as np  # noqa: E402

def standardise(x, train):
    """x (n, d, 1) scaled by the mean and spread of its rows ``train``, each value separately."""
    mu, sd = x[train].mean(0), x[train].std(0)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def held_out_choice(data, fold_cache, seed, ours, partners, held):
    """Each partner's weight chosen per fold on held-out speakers by the shipped rule
    (neural_network.choose_blend_weights: pooled held-out files of the other folds, ours each clip
    alone), never on the test speakers.

    ours: (n, n_emotions) our test probabilities with their views (the --ours CSV); partners,
    held: fold_probs's test probabilities and held-out probabilities per partner name. Ours on the
    held-out files comes from the fold models in ``fold_cache`` (trained with ``seed``). Returns
    {name: ((n, n_emotions) test probabilities, weights per fold as text)} for "shipped, chosen" (the
    MFCC-mean partner: the README's blend), "mean+prosody, chosen" (in its place) and
    "shipped+prosody, chosen" (the prosody partner's weight chosen on top of the shipped blend's)."""
    nn.SEED = seed  # run_settings records it, and the fold cache must match
    settings = nn.run_settings("cnn", data)
    folds = nn.speaker_folds(data)
    present = sorted(set(folds.tolist()))

    def missing():
        raise nn.FoldCacheError(f"{fold_cache}: a fold is missing; run neural_network.py "
                                f"--seed {seed} --fold-cache {fold_cache} first")

    runs = []
    for k in present:
        v = nn.validation_fold(k, set(present))
        run, _ = nn.cached_run(fold_cache, f"cnn-b-fold{k}", settings, missing)
        held_idx = np.flatnonzero(folds == v)
        single = nn.predict("cnn", nn.fold_model("cnn", run), [data["features"][i] for i in held_idx])
        runs.append({"held": held_idx, "test": np.flatnonzero(folds == k), "held_single": single})

    def choose(name, base_runs):
        per_fold, _ = nn.choose_blend_weights(data, base_runs, [{"held": held[name][k]} for k in present])
        return [w for w, _ in per_fold]

    shipped_w = choose("mean", runs)
    mixed_w = choose("mean+prosody", runs)
    on_top_w = []
    for i, k in enumerate(present):  # the prosody weight on top of fold k's shipped blend
        blended = [dict(r, held_single=model_lib.blend(r["held_single"], held["mean"][j], shipped_w[i]))
                   for r, j in zip(runs, present)]
        on_top_w.append(choose("prosody", blended)[i])
    weights = {"shipped, chosen": shipped_w, "mean+prosody, chosen": mixed_w, "shipped+prosody, chosen": on_top_w}
    probs = {name: np.zeros_like(ours) for name in weights}
    for i, r in enumerate(runs):
        t = r["test"]
        shipped = model_lib.blend(ours[t], partners["mean"][t], shipped_w[i])
        probs["shipped, chosen"][t] = shipped
        probs["mean+prosody, chosen"][t] = model_lib.blend(ours[t], partners["mean+prosody"][t], mixed_w[i])
        probs["shipped+prosody, chosen"][t] = model_lib.blend(shipped, partners["prosody"][t], on_top_w[i])
    return {name: (probs[name], ", ".join(f"{w:g}" for w in ws)) for name, ws in weights.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", type=Path, required=True, help="predictions CSV with our model's 'cnn' rows")
    parser.add_argument("--seed", type=int, default=nn.SEED, help="training seed of the partners")
    parser.add_argument("--predictions", type=Path, required=True, help="the CSV written")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--fold-cache", type=Path, default=None,
                        help="neural_network.py --fold-cache folder of --ours's run: also choose each "
                             "weight on held-out speakers, as the shipped blend's is chosen")
    args = parser.parse_args(argv)
    try:  # FeaturesError, from a features file that cannot be used, is a ValueError too
        data = nn.load_data(args.features)
        ours = read_ours(args.ours, data)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    table = data["prosody"]
    labels, corpora = data["labels"], np.asarray(data["corpus"])
    folds = nn.speaker_folds(data)
    means = np.stack([audio.mfcc(f).mean(0) for f in data["features"]]).astype(np.float32)
    text = scorer(labels, corpora)

    def scaled_tail(x, train):  # the MFCC means as the shipped partner reads them, prosody scaled
        return np.concatenate([x[:, :audio.N_MFCC], standardise(x[:, audio.N_MFCC:], train)], axis=1)

    inputs = {
        "mean": (means[:, :, None], None),
        "prosody": (table[:, :, None], standardise),
        "mean+prosody": (np.concatenate([means, table], axis=1)[:, :, None], scaled_tail),
    }
    everything = np.arange(len(labels))
    results = {"cnn": {"b": {"idx": everything, "probs": ours}}}
    print(f"ours alone: {text(ours)}", flush=True)
    partners, held = {}, {}
    for name, (x, prepare) in inputs.items():
        held[name] = {}
        partners[name] = fold_probs(x, labels, corpora, folds, seed=args.seed, prepare=prepare,
                                    held_out=held[name])
        results[name] = {"b": {"idx": everything, "probs": partners[name]}}
        print(f"{name} alone: {text(partners[name])}", flush=True)
    shipped = model_lib.blend(ours, partners["mean"], 0.1)
    results["mean w0.1"] = {"b": {"idx": everything, "probs": shipped}}
    print(f"shipped blend (mean w0.1): {text(shipped)}", flush=True)
    for name, base, other in (("prosody", ours, partners["prosody"]),
                              ("mean+prosody", ours, partners["mean+prosody"]),
                              ("shipped+prosody", shipped, partners["prosody"])):
        print(f"{name}: " + weighed(name, base, other, results, text), flush=True)
    if args.fold_cache is not None:
        try:
            chosen = held_out_choice(data, args.fold_cache, args.seed, ours, partners, held)
        except nn.FoldCacheError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for name, (probs, weights) in chosen.items():
            results[name] = {"b": {"idx": everything, "probs": probs}}
            print(f"{name}: {text(probs)}; weights per fold {weights}", flush=True)
    nn.write_predictions(args.predictions, data, results)
    print(f"wrote {args.predictions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
