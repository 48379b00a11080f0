"""Measured: functionals of our own front end, no openSMILE, as a third voice in the blend.

    # first a run without the shipped third voice (neural_network.THIRD_VOICE), to blend a voice into:
    python neural_network.py --no-third-voice --no-ship --protocols b --baseline none --predictions runs/b.csv
    python experiments/own_functionals.py --predictions runs/b.csv   # about 10 min here the first time

openSMILE's ComParE functionals blended into a run raised the unseen actors by 3.4 points on the
mean of six seeds (experiments/compare_partner.py), but openSMILE's licence allows research and
teaching only, and they cost 42.6 ms a clip. Its voice-quality (pitch, jitter, shimmer, harmonics
to noise) and RASTA-filtered band descriptors gave the most of its gain on TESS, its MFCCs on
RAVDESS; none of those but the MFCCs' means are in our models' inputs. This builds the same kinds
of descriptors from our own front end (audio.py: its log-mel frames and its pitch track) and asks
whether a plain classifier on them adds what ComParE's did, licence-free and fast.

1. Features: for each file of the features file, ``functionals``: FUNCTIONALS of each
   frame-level descriptor (audio.descriptors), and the clip's prosody (audio.prosody). The code
   lives in the front end since the product took it up (audio.functionals), and create_features.py
   stores every file's functionals in the features file, checked against the front end's settings
   when it is read; this script used to compute them again from the audio and now reads them
   there (``--dataset``, shared with compare_partner.py, is not read). Their cost per clip is in
   the README's speed table (benchmarks/run_all.py).
2. Probabilities: for each protocol (b) fold k, a logistic regression (compare_partner's
   LR_SETTINGS) trained on every other fold's files; its penalty C is the one of C_GRID that scores
   best on the RAVDESS actors of the other folds, each predicted by a classifier trained without
   them and without fold k (neural_network.choose_third_voice_c): nothing about fold k's
   speakers chooses anything.
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
-0.17 (+0.92 on nine). The product's version is neural_network.py's third voice (THIRD_VOICE).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
from experiments.compare_partner import (LR_SETTINGS, blend_parser, blend_runs, cached,  # noqa: E402
                                         describe, file_rows, fold_probabilities, parse_blend_args,
                                         read_cached, read_runs)
from neural_network import THIRD_VOICE_C_GRID, speaker_folds  # noqa: E402
from neural_network import choose_third_voice_c as choose_c  # noqa: E402

import numpy as np  # noqa: E402

# Where the classifier's probabilities of every file and each fold's C are kept, beside the
# features file whose functionals they were made from.
PARTNER_NAME = "own_functionals_probabilities.joblib"
# The penalties C tried for the classifier, each fold choosing its own on other speakers (the
# product's third voice's).
C_GRID = THIRD_VOICE_C_GRID
# What is taken of each descriptor over a clip (the front end's, moved there for the product's
# third voice, 2026-12-05; bit-identical on all 4240 files to this script's own before).
FUNCTIONALS = audio.FUNCTIONALS


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


def made_from(data):
    """What the classifier's probabilities depend on besides its settings: the files, the
    functionals' settings (audio.functionals_params, which load_features checked) and their sha256."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(data["functionals"]).tobytes()).hexdigest()
    return {"paths": list(data["path"]), "functionals": audio.functionals_params(), "functionals_sha256": digest}


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
    x = np.asarray(data["functionals"])  # every file's, as create_features.py stored them
    labels = np.asarray(data["labels"])
    folds = speaker_folds(data)
    choosers = np.asarray(data["corpus"]) == "RAVDESS"
    rows = file_rows(data, "own")
    key = {**made_from(data), "c_grid": C_GRID, "lr": LR_SETTINGS, "labels": labels.tolist()}
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
