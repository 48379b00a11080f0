"""Measured: a temperature fitted after the third voice, on the other folds' voices.

    python experiments/voices_temperature.py --predictions media/predictions_b.csv runs/aug48.csv \
        --out runs/temp42.csv runs/temp48.csv          # seconds
    python neural_network.py --score-predictions runs/temp42.csv   # the calibrated run, scored in full

The shipped model applies no temperature: those fitted on each fold's held-out RAVDESS actors
sharpened every probability, and the TESS voices' confident mistakes made the log-loss worse
(experiments/README.md, "the temperature under both noisy copies"). This fits each protocol (b)
fold's temperature where the third voice's weight is chosen: on every other fold's test files, each
predicted by a model that never heard its speaker, each corpus counting the same
(choose_voice_temperatures), so a TESS voice's temperature hears the other TESS
voice. It is applied to the fold's probabilities as the product predicts them (after the partner,
the views and the third voice), clean and under each robustness condition. Nothing is retrained.

For each predictions CSV it prints each fold's temperature and the one fitted on every fold's
files (the shipped model's), then before and after: the ECE overall and per corpus, the log-loss,
and the ECE under each robustness condition. A temperature keeps every file's top emotion; the
script checks that accuracy did not move. ``--out`` writes the calibrated run (the ``--model``
rows, every condition) as a predictions CSV for `neural_network.py --score-predictions`.

Verdict (2026-12-05): not applied. ECE and log-loss both worse on seeds 42 and 48 (ECE 0.094 to
0.108, 0.091 to 0.115): the two TESS voices want opposite temperatures (experiments/README.md,
"the temperature fitted on the other folds' voices").
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402  (no Keras until a model is built or loaded)
from compare_partner import features_or_exit, parse_blend_args, read_conditions, write_blended  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402
from neural_network import (CLEAN, expected_calibration_error, fit_temperature, log_loss,  # noqa: E402
                            speaker_folds)

import numpy as np  # noqa: E402


def choose_voice_temperatures(probs, labels, folds, groups, *, every=False):
    """{fold: temperature}: for each fold k of ``folds`` (n,), fit_temperature on the rows of every
    other fold, each group of ``groups`` (n,) (e.g. each row's corpus) counting the same. ``probs``
    (n, k) are every file's test probabilities, each from a model that never heard its speaker, so
    a TESS voice's temperature is fitted on the actors and the other TESS voice. ``every``: return
    instead the one temperature fitted on every row (the shipped model's)."""
    probs, labels, folds, groups = (np.asarray(a) for a in (probs, labels, folds, groups))
    if every:
        return fit_temperature(probs, labels, groups=groups)
    return {int(k): fit_temperature(probs[folds != k], labels[folds != k], groups=groups[folds != k])
            for k in np.unique(folds)}


def calibration(probs, labels, corpora):
    """'ECE e (RAVDESS r / TESS t), log-loss l' of ``probs`` (n, k)."""
    per = " / ".join(f"{c} {expected_calibration_error(probs[corpora == c], labels[corpora == c]):.3f}"
                     for c in np.unique(corpora))
    return f"ECE {expected_calibration_error(probs, labels):.3f} ({per}), log-loss {log_loss(probs, labels):.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=Path, nargs="+", required=True,
                        help="predictions CSVs of protocol (b) runs (neural_network.py --predictions)")
    parser.add_argument("--model", default="cnn", help="the model of the CSVs to calibrate (default cnn)")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--out", type=Path, nargs="*", default=[],
                        help="a calibrated predictions CSV to write for each of --predictions")
    args = parse_blend_args(parser, argv)
    data = features_or_exit(args.features)
    labels, corpora = np.asarray(data["labels"]), np.asarray(data["corpus"])
    folds = speaker_folds(data)
    every = [read_conditions(path, args.model, data) for path in args.predictions]  # all checked first
    for n, (path, runs) in enumerate(zip(args.predictions, every)):
        clean = runs[CLEAN][1]
        chosen = choose_voice_temperatures(clean, labels, folds, corpora)
        shipped = choose_voice_temperatures(clean, labels, folds, corpora, every=True)
        print(f"{path}: temperature per fold " + ", ".join(f"{k}: {t:.2f}" for k, t in chosen.items())
              + f"; on every fold's files {shipped:.2f}")
        calibrated = {}
        for condition, (rows, probs) in runs.items():
            after = np.zeros_like(probs)
            for k, t in chosen.items():
                after[folds == k] = model_lib.calibrate(probs[folds == k], t)
            if not np.array_equal(after.argmax(axis=1), probs.argmax(axis=1)):
                sys.exit(f"error: {path}: the temperature changed a top emotion under {condition}")
            calibrated[condition] = rows, after
            print(f"{path}: {condition}: accuracy {np.mean(probs.argmax(axis=1) == labels):.3f}; "
                  f"before: {calibration(probs, labels, corpora)}; after: {calibration(after, labels, corpora)}")
        if args.out:
            write_blended(args.out[n], [r for rows, _ in calibrated.values() for r in rows],
                          np.concatenate([p for _, p in calibrated.values()]))
            print(f"wrote {args.out[n]}")


if __name__ == "__main__":
    main()
