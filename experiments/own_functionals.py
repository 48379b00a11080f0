"""Measured: functionals of our own front end, no openSMILE, as a third voice in the blend.

    python experiments/own_functionals.py --predictions media/predictions_b.csv   # 40 min here the first time

openSMILE's ComParE functionals blended into a run raised the unseen actors by 3.4 points on the
mean of six seeds (experiments/compare_partner.py), but openSMILE's licence allows research and
teaching only, and they cost 42.6 ms a clip. Its voice-quality (pitch, jitter, shimmer, harmonics
to noise) and RASTA-filtered band descriptors gave the most of its gain on TESS, its MFCCs on
RAVDESS; none of those but the MFCCs' means are in our models' inputs. This builds the same kinds
of descriptors from our own front end (audio.py: its log-mel frames and its pitch track) and asks
whether a plain classifier on them adds what ComParE's did, licence-free and fast.

1. Features: for each file of the features file, loaded and silence-trimmed by our front end,
   ``functionals``: FUNCTIONALS of each frame-level descriptor (``descriptors``), and the clip's
   prosody (audio.prosody). Kept in OWN_NAME beside the features file, with the files, front end
   settings and this script's descriptor code they were made from; making them prints their time
   per clip.
2. Probabilities: for each protocol (b) fold k, a logistic regression (compare_partner's
   LR_SETTINGS) trained on every other fold's files; its penalty C is the one of C_GRID that scores
   best on the RAVDESS actors of the other folds, each predicted by a classifier trained without
   them and without fold k (``choose_c``): nothing about fold k's speakers chooses anything.
   The probabilities and each fold's C are kept in PARTNER_NAME, with what they were made from.
3. Blend: as compare_partner.py, into every predictions CSV given, each fold's w chosen on the
   other folds' RAVDESS actors.
It prints the classifier alone and each CSV alone and blended (accuracy overall, per corpus, on the
RAVDESS women and men), the C and w of each fold; ``--out`` writes the blended runs. ``--blocks``
(for looking after the verdict, not for choosing) keeps only some blocks of descriptors (BLOCKS),
each fold's classifier at the C the whole set chose.

Verdict (2026-12-04): with each fold's w chosen by the actors, it fails its bar. On six seeds it
raised the unseen actors (+2.7 on the mean) and cost an unseen TESS voice more (-2.3): -0.6 overall
(experiments/README.md, "Measured: our own functionals fail their bar"). With ``--choose-on both``
(2026-12-05) it passes its bar on eight seeds: +1.05 overall, RAVDESS +2.27, TESS +0.43 (there,
"Measured: each fold's weight chosen by both corpora's voices"); a ninth seed after that verdict,
-0.17 (+0.92 on nine). The product's version is not built yet.
"""

import inspect
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
from create_features import DATASET_DIR  # noqa: E402
from experiments.compare_partner import (LR_SETTINGS, blend_parser, blend_runs, cached,  # noqa: E402
                                         classifier, describe, file_rows, fold_probabilities,
                                         parse_blend_args, read_cached, read_runs)
from neural_network import speaker_folds  # noqa: E402

import numpy as np  # noqa: E402

# Where the functionals are kept, beside the features file they were made from, and where the
# classifier's probabilities of every file and each fold's C are (made in about 40 min here).
OWN_NAME = "own_functionals.joblib"
PARTNER_NAME = "own_functionals_probabilities.joblib"
# The penalties C tried for the classifier, each fold choosing its own on other speakers.
C_GRID = (0.0003, 0.001, 0.003, 0.01)
# The MFCCs kept (1 to 14, as ComParE's; 0 is the clip's level).
MFCC_KEPT = slice(1, 15)
# Frames either side of a frame in its delta (the regression over 2 * DELTA_SPAN + 1 frames).
DELTA_SPAN = 2
# The RASTA filter over each log-mel band's frames (Hermansky and Morgan's band-pass on the
# modulation spectrum): a five-tap slope (numerator, summing to 0, so a constant level, a microphone's
# gain or colour, gives 0) and the pole of its leaky integrator.
RASTA_NUMERATOR = np.array([0.2, 0.1, 0.0, -0.1, -0.2])
RASTA_POLE = 0.98
# The split between low and high bands in the alpha ratio (ComParE's: 0-1 kHz against 1-5 kHz).
ALPHA_SPLIT_HZ, ALPHA_TOP_HZ = 1000.0, 5000.0
# Correlations at the period are clipped to this range before harmonics to noise is taken.
HNR_CLIP = (0.01, 0.999)
# What is taken of each descriptor over a clip's frames: moments, percentiles, their range, the
# slope over time (per second) and the mean change from one frame to the next.
PERCENTILES = (10, 25, 50, 75, 90)
FUNCTIONALS = ("mean", "std", "skewness", "kurtosis", *(f"p{q}" for q in PERCENTILES), "p90-p10",
               "slope", "mean_abs_change")


def delta(x):
    """(T, d) -> (T, d): each frame's regression slope over DELTA_SPAN frames either side (the
    first and last frames repeated at the edges)."""
    pad = np.pad(x, ((DELTA_SPAN, DELTA_SPAN), (0, 0)), mode="edge")
    n = len(x)
    k = np.arange(1, DELTA_SPAN + 1)
    return sum(j * (pad[DELTA_SPAN + j:DELTA_SPAN + j + n] - pad[DELTA_SPAN - j:DELTA_SPAN - j + n])
               for j in k) / (2.0 * np.sum(k * k))


def rasta(x):
    """(T, d) -> (T, d): the RASTA filter along time of each column (the first frame repeated
    before the clip, so a constant column gives 0)."""
    taps = len(RASTA_NUMERATOR)
    pad = np.pad(x, ((taps - 1, 0), (0, 0)), mode="edge")
    fir = sum(RASTA_NUMERATOR[i] * pad[taps - 1 - i:taps - 1 - i + len(x)] for i in range(taps))
    out = np.empty_like(fir)
    state = np.zeros(x.shape[1])
    for t in range(len(x)):
        state = RASTA_POLE * state + fir[t]
        out[t] = state
    return out


def functionals_of(x, *, rate):
    """(T, d) descriptors -> (len(FUNCTIONALS) * d,) float64, functional by functional; ``rate``:
    frames per second (for the slope). Zeros when T < 2."""
    n, d = x.shape
    if n < 2:
        return np.zeros(len(FUNCTIONALS) * d)
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / np.where(std > 1e-6, std, np.inf)
    p = np.percentile(x, PERCENTILES, axis=0)
    t = np.arange(n) / rate
    t = t - t.mean()
    slope = t @ (x - mean) / np.sum(t * t)
    change = np.abs(np.diff(x, axis=0)).mean(axis=0)
    return np.concatenate([mean, std, (z ** 3).mean(axis=0), (z ** 4).mean(axis=0) - 3.0 * (std > 1e-6),
                           *p, p[-1] - p[0], slope, change])


def descriptors(y):
    """The frame-level descriptors of a trimmed clip y (n_samples,): (frame (T, 163), voiced
    (V, 4), pitch frames (P, 1)) float64.

    frame, at the front end's HOP_LENGTH: MFCC 1-14 and their deltas, the RASTA-filtered log-mel
    bands, the log-mel bands less the clip's mean level, and seven spectral descriptors (level in dB
    re the clip's loudest frame; centroid and spread over the mel bands, in bands; flatness in dB;
    flux, the mean change of the bands in dB; the bands' slope in dB per band; the alpha ratio in
    dB). voiced, over audio.pitch_track's voiced frames: pitch in semitones re 100 Hz, jitter (the
    relative change of the period from the voiced frame before), shimmer (the change of the frame's
    level in dB from the voiced frame before) and harmonics to noise in dB (from the correlation at
    the period); the first voiced frame's changes are 0, and V is 0 with fewer than three voiced
    frames. pitch frames: the correlation at the period of every pitch frame.
    """
    spec = audio.spectrum(y)
    mel = audio.mel_power(spec.real ** 2 + spec.imag ** 2).astype(np.float64)
    bands = 10.0 * np.log10(np.maximum(mel, audio.POWER_FLOOR))
    mfcc = audio.mfcc(bands).astype(np.float64)[:, MFCC_KEPT]
    total = mel.sum(axis=1) + audio.POWER_FLOOR
    level = 10.0 * np.log10(total / total.max())
    index = np.arange(audio.N_MELS)
    share = mel / total[:, None]
    centroid = share @ index
    spread = np.sqrt(np.maximum(share @ index ** 2 - centroid ** 2, 0.0))
    flatness = bands.mean(axis=1) - 10.0 * np.log10(mel.mean(axis=1) + audio.POWER_FLOOR)
    flux = np.concatenate([[0.0], np.abs(np.diff(bands, axis=0)).mean(axis=1)])
    centred = index - index.mean()
    tilt = (bands - bands.mean(axis=1, keepdims=True)) @ centred / np.sum(centred ** 2)
    hz = audio.mel_centres_hz()
    low, high = hz < ALPHA_SPLIT_HZ, (hz >= ALPHA_SPLIT_HZ) & (hz < ALPHA_TOP_HZ)
    alpha = 10.0 * np.log10((mel[:, low].sum(axis=1) + audio.POWER_FLOOR) /
                            (mel[:, high].sum(axis=1) + audio.POWER_FLOOR))
    spectral = np.stack([level, centroid, spread, flatness, flux, tilt, alpha], axis=1)
    frame = np.concatenate([mfcc, delta(mfcc), rasta(bands), bands - bands.mean(), spectral], axis=1)

    f0, corr, voiced = audio.pitch_track(y)
    voiced_rows = np.zeros((0, 4))
    if voiced.sum() >= 3:
        frames = audio.pitch_frames(y)
        frame_db = 10.0 * np.log10(np.mean(np.square(frames[voiced], dtype=np.float64), axis=1) + 1e-12)
        period = 1.0 / f0[voiced]
        jitter = np.concatenate([[0.0], np.abs(np.diff(period)) / period[1:]])
        shimmer = np.concatenate([[0.0], np.abs(np.diff(frame_db))])
        c = np.clip(corr[voiced].astype(np.float64), *HNR_CLIP)
        voiced_rows = np.stack([12.0 * np.log2(f0[voiced] / 100.0), jitter, shimmer,
                                10.0 * np.log10(c / (1.0 - c))], axis=1)
    return frame, voiced_rows, corr.astype(np.float64)[:, None]


def functionals(y):
    """The functionals of one clip: y (n_samples,) mono SAMPLE_RATE audio -> (2036,) float32:
    FUNCTIONALS of the 163 frame descriptors, of the 4 voiced-frame descriptors and of the pitch
    frames' correlation (``descriptors``; zeros for the voiced ones when fewer than three frames are
    voiced), then audio.prosody's 20 numbers. The clip is trimmed as audio.features trims it."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    power = audio.frame_power(y)
    trimmed = audio.trim_silence(y, power=power)
    frame, voiced, corr = descriptors(trimmed)
    frame_rate = audio.SAMPLE_RATE / audio.HOP_LENGTH
    pitch_rate = audio.PITCH_RATE / audio.PITCH_HOP
    parts = [functionals_of(frame, rate=frame_rate),
             functionals_of(voiced, rate=pitch_rate) if len(voiced) else np.zeros(4 * len(FUNCTIONALS)),
             functionals_of(corr, rate=pitch_rate), audio.prosody(y, power=power)]
    return np.nan_to_num(np.concatenate(parts)).astype(np.float32)


# The descriptor blocks of ``functionals``, by name: (part, first, last + 1), where part is the
# frame descriptors (163), the voiced-frame ones (4), the pitch frames' correlation (1) or the
# prosody (20, taken whole).
BLOCKS = {"mfcc": ("frame", 0, 14), "delta": ("frame", 14, 28), "rasta": ("frame", 28, 92),
          "bands": ("frame", 92, 156), "spectral": ("frame", 156, 163), "voiced": ("voiced", 0, 4),
          "corr": ("corr", 0, 1), "prosody": ("prosody", 0, audio.N_PROSODY)}
PARTS = {"frame": 163, "voiced": 4, "corr": 1}


def block_columns(names):
    """(2036,) bool: the columns of ``functionals`` that belong to the BLOCKS named in ``names``.
    Raises ValueError naming one that is not a block."""
    unknown = [n for n in names if n not in BLOCKS]
    if unknown:
        raise ValueError(f"--blocks {','.join(unknown)}: not a block; the blocks are {', '.join(BLOCKS)}")
    keep = []
    for part, size in [*PARTS.items(), ("prosody", None)]:
        width = audio.N_PROSODY if size is None else size
        inside = np.zeros(width, dtype=bool)
        for name in names:
            if BLOCKS[name][0] == part:
                inside[BLOCKS[name][1]:BLOCKS[name][2]] = True
        keep.append(inside if size is None else np.tile(inside, len(FUNCTIONALS)))  # functional by functional
    return np.concatenate(keep)


def own_features(paths, *, root=DATASET_DIR, log=print):
    """(n, 2036) float32: ``functionals`` of each file of ``paths`` (relative to ``root``). Raises
    audio.AudioError naming a file that cannot be read."""
    rows, spent = [], 0.0
    for i, path in enumerate(paths):
        y = audio.load_audio(Path(root) / path)
        start = time.perf_counter()
        rows.append(functionals(y))
        spent += time.perf_counter() - start
        if (i + 1) % 1000 == 0:
            log(f"  own functionals: {i + 1} of {len(paths)} files")
    if paths:
        log(f"own functionals took {1000 * spent / len(paths):.1f} ms per clip on the mean, one process "
            "(the log-mel frames and pitch track included, which a prediction already computes)")
    return np.array(rows, dtype=np.float32)


def made_from(paths):
    """What the functionals of ``paths`` depend on besides the audio: the files, the front end's
    settings and the source of this script's descriptor code."""
    code = "".join(inspect.getsource(f) for f in (delta, rasta, functionals_of, descriptors, functionals))
    settings = repr((MFCC_KEPT, DELTA_SPAN, RASTA_NUMERATOR.tolist(), RASTA_POLE, ALPHA_SPLIT_HZ,
                     ALPHA_TOP_HZ, HNR_CLIP, PERCENTILES))
    return {"paths": list(paths), "frontend": audio.frontend_params(), "code": code + settings}


def choose_c(x, labels, folds, choosers, *, grid=C_GRID, log=print):
    """{fold: C}: for each fold k of ``folds``, the C of ``grid`` whose classifiers are right most
    often on the rows where ``choosers`` (n,) bool is true and the fold is not k, each such fold j
    predicted by a classifier trained on the folds other than j and k (the smaller C on a tie).
    One classifier per pair of folds and C serves both folds of the pair."""
    inner = [int(j) for j in np.unique(folds[choosers])]
    right = {}  # (k, j, C): right answers on fold j's chooser rows, trained without folds j and k
    chosen = {}
    for k in (int(k) for k in np.unique(folds)):
        for j in (j for j in inner if j != k):
            for c in grid:
                if (k, j, c) in right:
                    continue
                clf = classifier(c)
                train = (folds != k) & (folds != j)
                clf.fit(x[train], labels[train])
                for a, b in ((k, j), (j, k)):
                    test = (folds == b) & choosers
                    if test.any():
                        right[(a, b, c)] = int((clf.predict(x[test]) == labels[test]).sum())
        score = {c: sum(right[(k, j, c)] for j in inner if j != k) for c in grid}
        chosen[k] = max(grid, key=lambda c: (score[c], -c))
        log(f"  fold {k}: C = {chosen[k]} (right answers " + ", ".join(f"{c}: {score[c]}" for c in grid) + ")")
    return chosen


def classified(x, labels, folds, choosers, cache, key, *, grid=C_GRID):
    """(n, k) probabilities of every row of ``x`` from its fold's classifier, each fold's C chosen
    on ``choosers`` (``choose_c``), kept in ``cache`` for ``key`` (compare_partner.cached) and read
    from there when made before; prints each fold's C."""
    def classify():
        print(f"choosing each fold's C among {grid} on the other folds' RAVDESS actors")
        c = choose_c(x, labels, folds, choosers, grid=grid)
        return {"c": c, "probabilities": fold_probabilities(x, labels, folds, c=c)}

    kept = cached(cache, key, classify, what="classifier's probabilities")
    print("each fold's C: " + ", ".join(f"{k}: {c}" for k, c in kept["c"].items()))
    return kept["probabilities"]


def main(argv=None):
    parser = blend_parser(__doc__.split("\n")[0])
    parser.add_argument("--blocks", metavar="NAMES",
                        help="after the verdict, for looking only: keep only these comma-separated "
                             f"descriptor blocks ({', '.join(BLOCKS)}), each fold's C as the whole "
                             "set chose it (default: every block)")
    args = parse_blend_args(parser, argv)
    try:
        columns = block_columns(args.blocks.split(",")) if args.blocks else None
    except ValueError as err:
        sys.exit(f"error: {err}")
    data, runs = read_runs(args.predictions, args.model, args.features)
    try:
        x = cached(args.features.parent / OWN_NAME, made_from(data["path"]),
                   lambda: own_features(data["path"], root=args.dataset), what="own functionals")
    except audio.AudioError as err:  # a corpus file gone since the features were made
        sys.exit(f"error: {err}; --dataset names the corpora's folder the features were made from")
    labels = np.asarray(data["labels"])
    folds = speaker_folds(data)
    choosers = np.asarray(data["corpus"]) == "RAVDESS"
    rows = file_rows(data, "own")
    key = {**made_from(data["path"]), "c_grid": C_GRID, "lr": LR_SETTINGS, "labels": labels.tolist()}
    cache = args.features.parent / PARTNER_NAME

    if args.blocks:  # after the verdict: which descriptors do what, at the C the whole set chose
        kept = read_cached(cache, key)
        if kept is None:
            sys.exit(f"error: {cache}: no probabilities of the whole set for these files; run once "
                     "without --blocks first (the blocks use each fold's C that it chooses)")
        c = kept["c"]
        x = x[:, columns]
        partner = fold_probabilities(x, labels, folds, c=c)
        print(f"own functionals' classifier alone, blocks {args.blocks} ({x.shape[1]} functionals, each "
              f"fold's C as the whole set's): {describe(partner, labels, rows)}")
        blend_runs(args.predictions, runs, partner, data, outs=args.out, choose_on=args.choose_on)
        return

    partner = classified(x, labels, folds, choosers, cache, key)
    print(f"own functionals' classifier alone ({x.shape[1]} functionals): {describe(partner, labels, rows)}")
    blend_runs(args.predictions, runs, partner, data, outs=args.out, choose_on=args.choose_on)

if __name__ == "__main__":
    main()
