"""Measured: the modulation spectrum beside the third voice's functionals.

    # runs without the third voice, to blend it into (seed 42's from the README's fold cache):
    python neural_network.py --fold-cache runs/cache42 --no-third-voice --no-ship --protocols b \
        --baseline none --predictions runs/ship42.csv
    python experiments/modulation_voice.py --fold-cache runs/cache42 --predictions runs/ship42.csv

Every voice the product blends describes a clip's spectrum, pitch and loudness and their change
from frame to frame; none says at what rates each band's energy rises and falls (the syllable
rate, about 2 to 8 Hz, slower phrasing, faster tremor). This takes each clip's modulation spectrum
from its stored log-mel frames (``modulation_spectrum``; the augmented copies and the robustness
conditions have theirs without reading any audio), appends it to the clip's functionals, and
trains the third voice on them with the product's own functions (neural_network.third_voice_b:
each fold's C chosen on the other folds' actors, each fold's classifier trained on the other
folds' files and their augmented copies). Both arms, the product's third voice and this one, are
then blended last into each predictions CSV given (runs without the third voice), each fold's
weight chosen on the other folds' files, each corpus counting the same
(neural_network.choose_third_voice_weights), as the product blends its own.

The product's classifiers are read from ``--fold-cache`` (the README's run keeps them there; made
if absent); this arm's are kept in its folder ``modulation`` (24 min to make here beside another
run, then read back). It prints each arm's classifier alone, and for each CSV the run alone and
each arm blended (accuracy overall, per corpus and on the RAVDESS women and men; the ECE and
log-loss; each robustness condition) and each fold's weight; ``--out`` writes the modulation arm's
blended run (every condition) as a predictions CSV for `neural_network.py --score-predictions`.

Verdict (2026-12-05): not shipped. It gained on seeds 42, 48 and 49 (+0.28, +0.35, +0.35 points,
the unseen actors +0.9 to +2.0, the TESS voices 0 to −0.5), short of the +0.5 its plan asked
(experiments/README.md, "the modulation spectrum beside the functionals"); a second plan, judged
on fresh seed 50 by what it had done (the actors +0.5, overall higher), saw it lose 1.01 points
overall and 0.5 on the actors ("the modulation spectrum fails on fresh seed 50"). Not tried again.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
import model as model_lib  # noqa: E402  (no Keras until a model is built or loaded)
from compare_partner import describe, file_rows, parse_blend_args, read_conditions, write_blended  # noqa: E402
from create_features import FEATURES_FILE  # noqa: E402
from neural_network import (CLEAN, FeaturesError, FoldCacheError, choose_third_voice_weights,  # noqa: E402
                            expected_calibration_error, fold_probs, load_data, log_loss, speaker_folds,
                            third_voice_b)

import numpy as np  # noqa: E402

# Adjacent mel bands averaged (in dB) into one acoustic band: 64 / 4 = 16 bands.
MOD_GROUP = 4
# Frames per segment of a band's track (1.28 s at 100 frames per second), and between segments.
MOD_SEGMENT = 128
MOD_HOP = 64
# Edges of the octave bands of modulation frequency the power is summed in, Hz.
MOD_EDGES_HZ = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
# Frames per second of the stored log-mel frames.
FRAME_RATE = audio.SAMPLE_RATE / audio.HOP_LENGTH
N_MODULATION = audio.N_MELS // MOD_GROUP * (len(MOD_EDGES_HZ) - 1)

_WINDOW = np.hanning(MOD_SEGMENT)
_FREQS = np.fft.rfftfreq(MOD_SEGMENT, d=1.0 / FRAME_RATE)
_OCTAVES = [(_FREQS >= lo) & (_FREQS < hi) for lo, hi in zip(MOD_EDGES_HZ[:-1], MOD_EDGES_HZ[1:])]


def modulation_spectrum(feats):
    """A clip's modulation spectrum from its stored features, (T, N_MELS) log-mel dB ->
    (N_MODULATION,) float64: for each acoustic band (MOD_GROUP mel bands, band by band), the log10
    of its track's power in each octave of MOD_EDGES_HZ (the track less its mean, in Hann-windowed
    segments of MOD_SEGMENT frames every MOD_HOP, averaged; a shorter clip padded with zeros)."""
    x = np.asarray(feats, dtype=np.float64)
    bands = x.reshape(len(x), audio.N_MELS // MOD_GROUP, MOD_GROUP).mean(axis=2)
    bands = bands - bands.mean(axis=0)
    if len(bands) < MOD_SEGMENT:
        bands = np.pad(bands, ((0, MOD_SEGMENT - len(bands)), (0, 0)))
    segments = np.stack([bands[s:s + MOD_SEGMENT] for s in range(0, len(bands) - MOD_SEGMENT + 1, MOD_HOP)])
    power = np.mean(np.abs(np.fft.rfft(segments * _WINDOW[None, :, None], axis=1)) ** 2, axis=0)
    return np.log10(np.stack([power[octave].sum(axis=0) for octave in _OCTAVES], axis=1) + 1e-10).ravel()


def with_modulation(data, log=print):
    """``data`` (neural_network.load_data's dict) with each clip's modulation spectrum appended to
    its functionals: the files', their augmented copies' and each robustness condition's."""
    start = time.perf_counter()

    def spectra(frames):
        return np.stack([modulation_spectrum(f) for f in frames]).astype(np.float32)

    out = dict(data, functionals=np.concatenate([data["functionals"], spectra(data["features"])], axis=1))
    aug = data.get("augmented")
    if aug is not None:
        out["augmented"] = dict(aug, functionals=np.concatenate([aug["functionals"], spectra(aug["augmented"])],
                                                                axis=1))
    out["condition_functionals"] = {c: np.concatenate([x, spectra(data["robustness"][c])], axis=1)
                                    for c, x in data["condition_functionals"].items()}
    n = len(data["features"]) + (0 if aug is None else len(aug["augmented"])) + \
        sum(len(v) for v in data["robustness"].values())
    log(f"modulation spectra of {n} clips in {time.perf_counter() - start:.0f} s")
    return out


def voice_probs(data, trained, conditions):
    """{condition: (n, k)}: each file's probabilities from its fold's classifier (third_voice_b's
    ``trained``; neural_network.fold_probs), clean (CLEAN) and under each of ``conditions``."""
    folds = speaker_folds(data)
    inputs = {CLEAN: data["functionals"], **{c: data["condition_functionals"][c] for c in conditions}}
    return {condition: fold_probs(trained["classifiers"], x, folds) for condition, x in inputs.items()}


def summary(probs, labels, rows):
    """describe()'s line, then the ECE and log-loss."""
    return (f"{describe(probs, labels, rows)}; ECE {expected_calibration_error(probs, labels):.3f}, "
            f"log-loss {log_loss(probs, labels):.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=Path, nargs="+", required=True,
                        help="predictions CSVs of protocol (b) runs without the third voice "
                             "(neural_network.py --no-third-voice --predictions)")
    parser.add_argument("--fold-cache", type=Path, required=True,
                        help="where the product's third voice is kept (the README's run's --fold-cache); "
                             "this arm's go in its folder 'modulation'")
    parser.add_argument("--model", default="cnn", help="the model of the CSVs to blend into (default cnn)")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--out", type=Path, nargs="*", default=[],
                        help="the modulation arm's blended predictions CSV for each of --predictions")
    args = parse_blend_args(parser, argv)
    try:
        data = load_data(args.features)
    except FileNotFoundError as err:
        sys.exit(f"error: {err.filename}: no such file")
    except FeaturesError as err:
        sys.exit(f"error: {err}")
    if data["augmented"] is None or data["robustness"] is None:
        sys.exit(f"error: {args.features}: its augmented copies or robustness conditions are missing; "
                 "run `python create_features.py`")
    runs = [read_conditions(p, args.model, data) for p in args.predictions]  # checked before minutes are spent
    labels, corpora = np.asarray(data["labels"]), np.asarray(data["corpus"])  # corpora: each counts the same
    folds = speaker_folds(data)
    conditions = sorted(data["condition_functionals"])
    arms = {"functionals": data, "functionals + modulation": with_modulation(data)}
    caches = {"functionals": args.fold_cache, "functionals + modulation": args.fold_cache / "modulation"}
    voices = {}
    for arm, arm_data in arms.items():
        print(f"third voice, {arm} ({arm_data['functionals'].shape[1]} inputs):")
        caches[arm].mkdir(parents=True, exist_ok=True)
        try:
            trained = third_voice_b(arm_data, caches[arm], log=lambda line: print(f"  {line}"))
        except FoldCacheError as err:
            sys.exit(f"error: {err}")
        voices[arm] = voice_probs(arm_data, trained, conditions)
        print("  C per fold: " + ", ".join(f"{k}: {c}" for k, c in sorted(trained["c"].items())))
        print(f"  alone: {summary(voices[arm][CLEAN], labels, file_rows(data, 'third voice'))}")
    everyone = np.ones(len(labels), dtype=bool)
    for n, (path, run) in enumerate(zip(args.predictions, runs)):
        rows, probs = run[CLEAN]
        print(f"{path}: alone: {summary(probs, labels, rows)}")
        for arm, voice in voices.items():
            weights = choose_third_voice_weights(probs, voice[CLEAN], labels, folds, everyone, groups=corpora)
            blended = {}
            for condition, (_, p) in run.items():
                blended[condition] = np.zeros_like(p)
                for k, w in weights.items():
                    blended[condition][folds == k] = model_lib.blend(p[folds == k], voice[condition][folds == k], w)
            print(f"{path}: {arm}: w per fold " + ", ".join(f"{k}: {w:.2f}" for k, w in weights.items()))
            print(f"{path}: {arm}: blended: {summary(blended[CLEAN], labels, rows)}")
            print(f"{path}: {arm}: under " + ", ".join(
                f"{c} {np.mean(blended[c].argmax(axis=1) == labels):.3f}" for c in run if c != CLEAN))
            if args.out and arm != "functionals":
                write_blended(args.out[n], [r for c in run for r in run[c][0]],
                              np.concatenate([blended[c] for c in run]))
                print(f"wrote {args.out[n]}")


if __name__ == "__main__":
    main()
