"""Measured: openSMILE's ComParE 2016 functionals as a third voice in the blend.

    # first a run without the shipped third voice (neural_network.THIRD_VOICE), to blend a voice into:
    python neural_network.py --no-third-voice --no-ship --protocols b --baseline none --predictions runs/b.csv
    python experiments/compare_partner.py --predictions runs/b.csv   # 12 min here the first time

Our model and its partner both read our own front end's frames (log-mel bands; MFCC means and
prosody). The ComParE 2016 set (6373 functionals of 65 frame-level descriptors: auditory and
RASTA-filtered bands, spectral shape, MFCC 1-14, pitch, voicing, jitter, shimmer, harmonics to
noise, and their deltas) is the standard hand-made feature set of the computational
paralinguistics challenges, computed by the openSMILE toolkit (the `opensmile` package; audEERING's
research licence: free for research and teaching, not for commercial use without a licence from
them). This asks whether a plain classifier on it hears something our models miss.

1. Features: each file of the features file, loaded and silence-trimmed by our front end
   (audio.load_audio, audio.trim_silence: the clip our models hear), its ComParE functionals.
   Kept in COMPARE_NAME beside the features file (6 min here to make, then read again), with the
   files, front end settings and openSMILE version they were made from; making them prints their
   time per clip.
2. Probabilities: for each protocol (b) fold, a logistic regression (LR_SETTINGS) trained on every
   other fold's files (no augmented copies, no held-out split), tested on the fold's files.
3. Blend: for every predictions CSV given (neural_network.py --predictions), each file's clean
   probabilities p_run are blended as p ∝ p_run^(1-w) · p_compare^w (model.blend, the shipped
   blend's rule). The w of fold k is the one of WEIGHTS that scores best on the RAVDESS actors of
   the other folds (never fold k's speakers, never TESS, like the shipped blend's choice on
   held-out actors; unlike it, those actors were tested by models that had heard fold k's
   speakers); with ``--choose-on both``, on the actors and the TESS voices outside fold k, each
   corpus counting the same.
``--descriptors`` keeps only the functionals of some descriptors (by a regular expression on their
names). It prints, for the classifier alone and for each CSV before and after the blend, the accuracy
overall and per corpus and on the RAVDESS women and men, and the w of each fold. ``--out`` writes
the blended run as a predictions CSV (clean rows only) that `neural_network.py
--score-predictions` scores in full. Nothing here is chosen for the shipped model.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
import corpus  # noqa: E402
import model as model_lib  # noqa: E402  (no Keras until a model is built or loaded)
from create_features import DATASET_DIR, FEATURES_FILE, load_features  # noqa: E402
from neural_network import (CLEAN, PREDICTION_COLUMNS, THIRD_VOICE_LR, THIRD_VOICE_WEIGHTS,  # noqa: E402
                            by_sex, fold_probs, prediction_row, read_predictions, scores, speaker_folds,
                            third_voice_folds)
from neural_network import choose_third_voice_weights as choose_weights  # noqa: E402, F401

import joblib  # noqa: E402
import numpy as np  # noqa: E402

# Where the ComParE functionals are kept, beside the features file they were made from.
COMPARE_NAME = "compare.joblib"
# The classifier on the functionals (the product's third voice's, neural_network.THIRD_VOICE_LR):
# scaled by its training rows, classes weighed equally, and strongly regularised (C = 0.001 scored
# best of 0.001 and 0.01 on the unseen speakers; with 6373 inputs and about 3700 training files a
# weaker penalty fits the training voices).
LR_SETTINGS = {"C": 0.001, **THIRD_VOICE_LR}
# The blend weights w tried for the ComParE classifier, 0 (our run alone) to 0.8 (the product's).
WEIGHTS = np.asarray(THIRD_VOICE_WEIGHTS)
# Who chooses each fold's w (--choose-on): the other folds' RAVDESS actors, or every voice outside
# the fold with each corpus counting the same.
CHOOSERS = ("actors", "both")


def compare_features(paths, *, root=DATASET_DIR, log=print):
    """(n, 6373) float32: the ComParE 2016 functionals of each file of ``paths`` (relative to
    ``root``), from our front end's silence-trimmed clip. Raises ValueError naming a file that
    cannot be read."""
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                            feature_level=opensmile.FeatureLevel.Functionals)
    rows, seconds, spent = [], 0.0, 0.0
    for i, path in enumerate(paths):
        y = audio.trim_silence(audio.load_audio(Path(root) / path))
        start = time.perf_counter()
        rows.append(smile.process_signal(y, audio.SAMPLE_RATE).to_numpy()[0])
        spent += time.perf_counter() - start
        seconds += len(y) / audio.SAMPLE_RATE
        if (i + 1) % 500 == 0:
            log(f"  ComParE functionals: {i + 1} of {len(paths)} files")
    if paths:  # what the functionals would add to every prediction, beside our own front end's
        log(f"ComParE functionals took {1000 * spent / len(paths):.1f} ms per clip on the mean "
            f"({1000 * spent / seconds:.1f} ms per second of trimmed audio), one process")
    return np.nan_to_num(np.array(rows, dtype=np.float32))


def made_from(paths):
    """What the functionals of ``paths`` depend on besides the audio: {"paths", "frontend" (our
    front end's settings, audio.frontend_params), "opensmile" (its version)}."""
    from importlib.metadata import version

    return {"paths": list(paths), "frontend": audio.frontend_params(), "opensmile": version("opensmile")}


def load_or_make(data, cache, *, root=DATASET_DIR, log=print):
    """The ComParE functionals of the features file's ``data`` (load_features' dict), in its file
    order: read from ``cache`` when it holds them made from the same files, front end settings and
    openSMILE version (made_from), else made and written there (cached)."""
    return cached(cache, made_from(data["path"]), lambda: compare_features(data["path"], root=root, log=log),
                  what="ComParE functionals", log=log)


def cached(cache, key, make, *, what, log=print):
    """``make()``'s result (an array, or what joblib can write), kept in the joblib file ``cache``
    beside ``key`` (a dict of what it was made from, with "paths"): read from there when the file
    holds the same key, else made and written there (atomically, so an interrupted run leaves no
    half-written file)."""
    kept = read_cached(cache, key)
    if kept is not None:
        return kept
    if Path(cache).exists():
        log(f"{cache}: made from other files or settings; making it again")
    log(f"making the {what} of {len(key['paths'])} files into {cache}")
    features = make()
    model_lib.write_atomic(cache, lambda tmp: joblib.dump({**key, "features": features}, tmp))
    return features


def read_cached(cache, key):
    """What ``cached`` kept in ``cache`` for ``key``; None when the file is absent or was made from
    something else."""
    if not Path(cache).exists():
        return None
    kept = joblib.load(cache)
    return kept["features"] if all(kept.get(name) == value for name, value in key.items()) else None


def descriptor_columns(pattern):
    """(6373,) bool: the ComParE functionals whose openSMILE name (e.g. ``F0final_sma_de_amean``,
    ``mfcc_sma[3]_stddev``) matches the regular expression ``pattern`` (re.search). Raises
    ValueError when it is not a regular expression or matches none."""
    import re

    import opensmile

    names = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                            feature_level=opensmile.FeatureLevel.Functionals).feature_names
    try:
        keep = np.array([re.search(pattern, name) is not None for name in names])
    except re.error as err:
        raise ValueError(f"--descriptors {pattern!r}: not a regular expression ({err})") from None
    if not keep.any():
        raise ValueError(f"--descriptors {pattern!r} matches none of the {len(names)} ComParE "
                         "functionals (their names are like F0final_sma_amean or mfcc_sma[3]_stddev)")
    return keep


def fold_probabilities(x, labels, folds, *, c=None):
    """(n, len(corpus.EMOTIONS)) probabilities of every row of ``x`` (n, d) from the classifier
    (neural_network.third_voice_classifier) trained on every other fold's rows; ``labels`` and
    ``folds`` (n,) int. ``c``: {fold: the penalty C of its classifier}, when not LR_SETTINGS' C. A
    class absent from a fold's training rows gets probability 0 there."""
    c = c or {int(k): LR_SETTINGS["C"] for k in np.unique(folds)}
    return fold_probs(third_voice_folds(x, labels, folds, c), x, folds)


def file_rows(data, model):
    """[{model, corpus, speaker, path}] of every file of ``data`` (load_features' dict), in its
    order: the rows ``describe`` reads for a classifier named ``model``."""
    return [dict(model=model, corpus=c, speaker=s, path=p) for c, s, p in
            zip(data["corpus"], data["speaker"], data["path"])]


def describe(probs, labels, rows):
    """One line: accuracy overall, per corpus and on the RAVDESS women and men (those present)."""
    preds = probs.argmax(axis=1)
    accuracy = {name: s["accuracy"] for name, s in scores(labels, preds, [r["corpus"] for r in rows]).items()}
    parts = [f"overall {accuracy.pop('all'):.3f}"] + [f"{c} {a:.3f}" for c, a in accuracy.items()]
    sexes = {"female": "women", "male": "men"}
    by = [f"{sexes[s]} {a:.3f}" for s, (a, _) in by_sex(rows, preds, labels).items()]
    return ", ".join(parts) + (f"; RAVDESS {', '.join(by)}" if by else "")


def write_blended(path, rows, probs):
    """A predictions CSV of ``rows`` (a run's rows, read_predictions' dicts; clean rows when they
    name no condition) with ``probs`` in place of theirs."""
    import csv

    names = list(corpus.EMOTIONS)

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow([*PREDICTION_COLUMNS, *names])
            for r, p in zip(rows, probs):
                out.writerow(prediction_row(r["model"], r.get("condition", CLEAN), r["fold"], r["corpus"],
                                            r["speaker"], r["path"], r["emotion"], p))

    model_lib.write_atomic(path, write)


def blend_parser(description):
    """An argument parser with the options of a script that blends a classifier into runs:
    --predictions, --model, --features, --dataset and --out (checked by ``parse_blend_args``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--predictions", type=Path, nargs="+", required=True,
                        help="predictions CSVs of protocol (b) runs (neural_network.py --predictions)")
    parser.add_argument("--model", default="cnn", help="the model of the CSVs to blend (default cnn)")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="the corpora's folder")
    parser.add_argument("--out", type=Path, nargs="*", default=[],
                        help="a blended predictions CSV to write for each of --predictions")
    parser.add_argument("--choose-on", choices=CHOOSERS, default="actors",
                        help="who chooses each fold's w: the other folds' RAVDESS actors (default), or "
                             "both corpora's voices outside the fold, each corpus counting the same")
    return parser


def parse_blend_args(parser, argv):
    """``parser.parse_args(argv)``, with one --out per --predictions CSV when --out is given."""
    args = parser.parse_args(argv)
    if args.out and len(args.out) != len(args.predictions):
        parser.error("give one --out per --predictions CSV")
    return args


def main(argv=None):
    parser = blend_parser(__doc__.split("\n")[0])
    parser.add_argument("--descriptors", metavar="REGEX",
                        help="only the functionals whose name matches REGEX, e.g. '^mfcc_' or "
                             "'^(F0final|voicingFinalUnclipped|jitter|shimmer|logHNR)' (default: all)")
    args = parse_blend_args(parser, argv)
    try:
        columns = descriptor_columns(args.descriptors) if args.descriptors else slice(None)
    except ValueError as err:
        sys.exit(f"error: {err}")
    data, runs = read_runs(args.predictions, args.model, args.features)
    try:
        x = load_or_make(data, args.features.parent / COMPARE_NAME, root=args.dataset)
    except audio.AudioError as err:  # a corpus file gone since the features were made
        sys.exit(f"error: {err}; --dataset names the corpora's folder the features were made from")
    labels = np.asarray(data["labels"])
    folds = speaker_folds(data)
    x = x[:, columns]
    partner = fold_probabilities(x, labels, folds)
    rows = file_rows(data, "compare")
    which = f", the {x.shape[1]} matching {args.descriptors!r}" if args.descriptors else ""
    print(f"ComParE classifier alone{which}: {describe(partner, labels, rows)}")
    blend_runs(args.predictions, runs, partner, data, outs=args.out, choose_on=args.choose_on)


def features_or_exit(features):
    """load_features(features), or a one-line error naming the file and exit status 1."""
    try:
        return load_features(features)
    except FileNotFoundError as err:
        sys.exit(f"error: {err.filename}: no such file")
    except ValueError as err:
        sys.exit(f"error: {err}")


def read_runs(paths, model, features):
    """(load_features(features), [the ``model`` clean rows of each predictions CSV of ``paths``,
    as {file path: row}]), checked to be protocol (b) runs of that features file's files and
    emotions (read_conditions); exits with a one-line error when one is not (before any minutes
    are spent on features)."""
    data = features_or_exit(features)
    return data, [{r["path"]: r for r in read_conditions(p, model, data)[CLEAN][0]} for p in paths]


def read_conditions(path, model, data):
    """{condition: (rows, probs (n, k))} of the ``model`` rows of predictions CSV ``path``, every
    condition it holds (clean and robustness), each in the order of ``data`` (load_features'
    dict); exits with a one-line error when it is not a run of those files and emotions."""
    names = list(corpus.EMOTIONS)
    try:
        runs = read_predictions(path)
    except FileNotFoundError:
        sys.exit(f"error: {path}: no such file")
    except ValueError as err:
        sys.exit(f"error: {err}")
    if CLEAN not in runs:
        sys.exit(f"error: {path}: no rows of clean clips; give a protocol (b) run made from the features file")
    out = {}
    for condition, models in runs.items():
        run = models.get(model, {})
        if set(run) != set(data["path"]):
            sys.exit(f"error: {path}: its {model} rows under {condition} are not the {len(data['path'])} "
                     "files of the features file; give a protocol (b) run made from it")
        rows = [run[p] for p in data["path"]]
        if [names.index(r["emotion"]) for r in rows] != list(data["labels"]):
            sys.exit(f"error: {path}: its emotions are not those of the features file")
        out[condition] = rows, np.array([[float(r[e]) for e in names] for r in rows])
    return out


def blend_runs(paths, runs, partner, data, *, outs=(), choose_on="actors"):
    """Blend ``partner`` ((n, k) probabilities in the features file's order) into each run of
    ``runs`` (read_runs), each fold's w chosen (choose_weights) on the other folds' RAVDESS actors,
    or with ``choose_on`` "both" on every voice outside the fold, each corpus counting the same
    (a TESS fold's w then chosen on the actors and the other TESS voice); print each run alone and
    blended, and write the blended run to ``outs`` (one path per run) when given. Returns each
    run's {fold: w}."""
    if choose_on not in CHOOSERS:
        raise ValueError(f"choose_on must be one of {CHOOSERS}, not {choose_on!r}")
    names = list(corpus.EMOTIONS)
    labels = np.asarray(data["labels"])
    folds = speaker_folds(data)
    corpora = np.asarray(data["corpus"])
    choosers = corpora == "RAVDESS" if choose_on == "actors" else np.ones(len(labels), dtype=bool)
    every = []
    for n, (path, run) in enumerate(zip(paths, runs)):
        rows = [run[p] for p in data["path"]]  # in the features file's order
        probs = np.array([[float(r[e]) for e in names] for r in rows])
        chosen = choose_weights(probs, partner, labels, folds, choosers, groups=corpora)
        blended = np.zeros_like(probs)
        for k, w in chosen.items():
            blended[folds == k] = model_lib.blend(probs[folds == k], partner[folds == k], w)
        print(f"{path}: alone:   {describe(probs, labels, rows)}")
        print(f"{path}: blended: {describe(blended, labels, rows)}")
        print(f"{path}: w per fold: " + ", ".join(f"{k}: {w:.2f}" for k, w in chosen.items()))
        if outs:
            write_blended(outs[n], rows, blended)
            print(f"wrote {outs[n]}")
        every.append(chosen)
    return every


if __name__ == "__main__":
    main()
