"""Pilot: what in the MFCC-mean model makes it a good partner for ours, and would another clip
summary make a better one?

    python experiments/mfcc_blend.py --seed 42 --fold-cache runs/cache-blend42 --predictions runs/pooled42.csv
    python experiments/partner_views.py --seed 42 --ours runs/pooled42.csv --predictions runs/views42.csv
    python neural_network.py --score-predictions runs/views42.csv

The shipped blend (model.blend) multiplies our probabilities with those of the seed's model, which
reads each clip as the mean of its 40 MFCCs over time. For every protocol (b) fold this script
trains the seed's architecture and recipe (model.build("seed"), 50 epochs) on the fold's training
files, the same files mfcc_blend.py trains it on, once per VIEWS entry: the same layers on another
summary of each clip's MFCC frames (its mean, or its mean and spread, or its loudness alone), some
with their loss weights balanced as ours are, or as PARTNER_SEEDS models averaged. It predicts the
fold's test speakers with each, alone and blended with ours at every weight of FIXED_WEIGHTS.

Ours is read from --ours: the "cnn" rows of a predictions CSV that holds our model unblended, such
as mfcc_blend.py writes. The weights here are not chosen: every one is scored on the test
speakers, so these numbers compare partners and choose nothing (mfcc_blend.py has the choice of a
weight on held-out speakers). Writes one predictions CSV (clean clips only) with one model per
view alone ("<view>") and per view and weight ("<view> w<weight>"), and prints a line per view.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402  (sets Keras's environment before Keras is imported)
import neural_network as nn  # noqa: E402
import audio  # noqa: E402
import corpus  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402

import numpy as np  # noqa: E402

# Blend weights of the partner scored on the test speakers (the shipped rule chose 0.1 on seed 42).
FIXED_WEIGHTS = (0.1, 0.2, 0.3, 0.4)
# Frames either side of a frame that its delta (rate of change) is taken over, as librosa's default.
DELTA_WIDTH = 2
# Percentiles of a clip's first MFCC (its loudness over time) that the "level" view keeps.
LEVEL_PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
# Models averaged in the "mean-averaged" view, each from its own seed.
PARTNER_SEEDS = 3


def deltas(frames, width=DELTA_WIDTH):
    """Rate of change of every coefficient over time: (n, C) -> (n, C), a least-squares slope over
    ``width`` frames either side (edges repeated)."""
    pad = np.pad(frames, ((width, width), (0, 0)), mode="edge")
    n = len(frames)
    taps = range(1, width + 1)
    return sum(k * (pad[width + k:width + k + n] - pad[width - k:width - k + n]) for k in taps) \
        / (2 * sum(k * k for k in taps))


# name -> (what it reads from a clip's MFCC frames (n, N_MFCC) -> (d,), balanced loss, models averaged)
VIEWS = {
    "mean": (lambda c: c.mean(0), False, 1),  # the shipped partner
    "mean-no-c0": (lambda c: c.mean(0)[1:], False, 1),  # its spectral shape without loudness
    "level": (lambda c: np.percentile(c[:, 0], LEVEL_PERCENTILES), False, 1),  # loudness alone
    "mean+spread": (lambda c: np.concatenate([c.mean(0), c.std(0)]), False, 1),
    "mean+spread+deltas": (lambda c: np.concatenate([c.mean(0), c.std(0), deltas(c).std(0)]), False, 1),
    "mean-balanced": (lambda c: c.mean(0), True, 1),
    "mean-averaged": (lambda c: c.mean(0), False, PARTNER_SEEDS),
}


def partner(n_inputs, seed):
    """The seed's model (model.build("seed"): its layers and optimiser) on ``n_inputs`` values a
    clip, its weights drawn after seeding with ``seed`` as neural_network.fit does, so that on the
    40 MFCC means it is the shipped partner (the same weights)."""
    import keras

    template = model_lib.build("seed")
    nn.set_seed(seed)
    net = keras.Sequential([keras.Input((n_inputs, 1))]
                           + [type(layer).from_config(layer.get_config()) for layer in template.layers])
    net.compile(optimizer=type(template.optimizer).from_config(template.optimizer.get_config()),
                loss="sparse_categorical_crossentropy")
    return net


def fold_probs(x, labels, corpora, folds, *, seed, balanced=False, n_models=1, prepare=None, held_out=None):
    """Every file's probabilities from the partner trained without its speakers: x (n, d, 1) float32,
    labels (n,), corpora (n,) names, folds (n,) protocol (b) fold numbers. For each fold the
    partner trains on the files neither in it nor in its held-out fold, as ours does. With
    ``prepare``, x is replaced by prepare(x, train) for that fold first (e.g. scaled by the training
    files' statistics). Returns (n, n_emotions). With ``held_out`` (a dict), also puts there each
    fold's probabilities of its held-out files, in file order: {fold: (n_held, n_emotions)}."""
    present = set(folds.tolist())
    probs = np.zeros((len(labels), len(corpus.EMOTIONS)))
    for k in sorted(present):
        v = nn.validation_fold(k, present)
        test = np.flatnonzero(folds == k)
        train = np.flatnonzero((folds != k) & (folds != v))
        xk = x if prepare is None else prepare(x, train)
        weights = nn.example_weights(labels[train], corpora[train]) if balanced else None
        held = np.flatnonzero(folds == v)
        for m in range(n_models):
            net = partner(x.shape[1], seed + 1000 * m)
            net.fit(xk[train], labels[train], sample_weight=weights, epochs=nn.EPOCHS["seed"],
                    batch_size=nn.BATCH_SIZE["seed"], shuffle=True, verbose=0)
            probs[test] += net.predict(xk[test], verbose=0) / n_models
            if held_out is not None:
                held_out[k] = held_out.get(k, 0) + net.predict(xk[held], verbose=0) / n_models
    return probs


def read_ours(path, data):
    """Our model's probabilities of every file of ``data``, in its order, from the "cnn" rows of the
    predictions CSV at ``path``: (n_files, n_emotions). Raises ValueError naming the CSV when it is
    missing or not a predictions CSV, or when a file has no row."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file; write it with neural_network.py --predictions")
    rows = nn.read_predictions(path).get(nn.CLEAN, {}).get("cnn", {})
    missing = [p for p in data["path"] if p not in rows]
    if missing:
        raise ValueError(f"{path}: no 'cnn' row for {len(missing)} of {len(data['path'])} files "
                         f"(first {missing[0]}); give a predictions CSV of every protocol (b) fold")
    return np.array([[float(rows[p][e]) for e in corpus.EMOTIONS] for p in data["path"]])


def scorer(labels, corpora):
    """A function that says how probabilities (n, n_emotions) score against ``labels`` (n,):
    "accuracy (RAVDESS accuracy, TESS accuracy)"."""
    def accuracy(p, where):
        return float(np.mean(p[where].argmax(1) == labels[where]))

    def text(p):
        everything = np.ones(len(labels), dtype=bool)
        return (f"{accuracy(p, everything):.3f} (RAVDESS {accuracy(p, corpora == 'RAVDESS'):.3f}, "
                f"TESS {accuracy(p, corpora == 'TESS'):.3f})")
    return text


def weighed(name, base, other, results, text):
    """Blend ``other`` into ``base`` at every weight of FIXED_WEIGHTS, add each to ``results`` as
    "<name> w<weight>" and return a line of their scores (``text``, from ``scorer``)."""
    scores = []
    for w in FIXED_WEIGHTS:
        blended = model_lib.blend(base, other, w)
        results[f"{name} w{w:g}"] = {"b": {"idx": np.arange(len(blended)), "probs": blended}}
        scores.append(f"w {w:g} {text(blended)}")
    return "; ".join(scores)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", type=Path, required=True, help="predictions CSV with our model's 'cnn' rows")
    parser.add_argument("--seed", type=int, default=nn.SEED, help="training seed of the partners")
    parser.add_argument("--predictions", type=Path, required=True, help="the CSV written")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated names from VIEWS")
    args = parser.parse_args(argv)
    views = args.views.split(",")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        parser.error(f"--views: unknown {unknown}; choose from {', '.join(VIEWS)}")
    try:  # FeaturesError, from a features file that cannot be used, is a ValueError too
        data = nn.load_data(args.features)
        ours = read_ours(args.ours, data)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    labels, corpora = data["labels"], np.asarray(data["corpus"])
    folds = nn.speaker_folds(data)
    mfccs = [audio.mfcc(f) for f in data["features"]]
    text = scorer(labels, corpora)
    print(f"ours alone: {text(ours)}", flush=True)
    results = {}
    for view in views:
        summary, balanced, n_models = VIEWS[view]
        x = np.stack([summary(c) for c in mfccs]).astype(np.float32)[:, :, None]
        probs = fold_probs(x, labels, corpora, folds, seed=args.seed, balanced=balanced, n_models=n_models)
        results[view] = {"b": {"idx": np.arange(len(labels)), "probs": probs}}
        print(f"{view}: alone {text(probs)}; " + weighed(view, ours, probs, results, text), flush=True)
    nn.write_predictions(args.predictions, data, results)
    print(f"wrote {args.predictions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
