"""Pilot: a partner for ours that reads a clip's pitch and loudness contours, not its spectrum.

    python neural_network.py --seed 42 --protocols b --baseline none --no-ship --mfcc-blend none \
        --predictions runs/ours42.csv --fold-cache runs/cache42       # once: ours on every fold
    python experiments/prosody_partner.py --seed 42 --ours runs/ours42.csv \
        --cache runs/prosody.joblib --predictions runs/prosody42.csv [--fold-cache runs/cache42]
    python neural_network.py --score-predictions runs/prosody42.csv

The shipped partner (model.blend with the seed's MFCC-mean model) helps most on the unseen TESS
voices, and every partner tried so far (experiments/partner_views.py) read MFCC summaries. This
one reads prosody: how high the voice is and how its pitch moves, how loud it is and how its
loudness moves, and how much of the clip is voiced and in how many stretches. Emotion shows in
all of these, and none is what a mean spectrum holds, so such a partner may err differently.

Every clip is trimmed as the front end trims it (audio.trim_silence); its pitch comes from YIN
(librosa.yin) on frames of PITCH_FRAME samples every audio.HOP_LENGTH, and a frame counts as voiced
when its waveform repeats at the found period (normalised correlation of at least
VOICING_CORRELATION) and it is within VOICING_TOP_DB of the loudest frame, by a majority of the
VOICING_SMOOTH frames around it. ``prosody`` turns that into N_PROSODY numbers. These are scaled by each fold's training files (mean 0, spread 1) and read
by the seed's layers and recipe (partner_views.partner, 50 epochs), trained on each protocol (b)
fold's training files as the shipped partner is.

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

# Pitch search range of YIN, in Hz: a low male voice to a high female shout.
PITCH_FMIN, PITCH_FMAX = 65.0, 800.0
# Samples in each YIN frame (64 ms): two periods of the lowest pitch searched, and then some.
PITCH_FRAME = 1024
# A frame is voiced when its waveform repeats at the found period at least this well (normalised
# correlation of half a frame with the same length one period later) ...
VOICING_CORRELATION = 0.6
# ... and it is within this many dB of the clip's loudest frame.
VOICING_TOP_DB = 35.0
# Voicing decisions are smoothed by a running majority over this many frames (odd), so that one
# frame's doubt does not split a vowel in two.
VOICING_SMOOTH = 5
# A pitch step larger than this many semitones between neighbouring frames (10 ms apart) is taken
# for a tracking error (an octave jump), not movement, and left out of the movement statistics.
MAX_STEP = 3.0
# Frame loudness below this many dB under the loudest frame counts as this (a floor for silence).
LOUDNESS_FLOOR_DB = 60.0
# Share of the clip at its end whose pitch is compared with the whole (a final rise or fall).
FINAL_SHARE = 0.2
# What ``prosody`` returns for each clip, in order.
PROSODY_NAMES = (
    "seconds", "voiced share", "voiced stretches per second", "mean voiced stretch (s)",
    "pitch median (semitones re 100 Hz)", "pitch 10th percentile", "pitch 90th percentile",
    "pitch spread (semitones)", "pitch range, 10th to 90th percentile",
    "pitch movement (mean |change|, semitones/s)", "pitch change spread (semitones/s)",
    "pitch slope (semitones/s)", "final pitch minus median",
    "loudness mean (dB re loudest)", "loudness spread", "loudness 10th percentile",
    "loudness median", "loudness 90th percentile", "loudness change spread (dB/s)",
    "loudness slope (dB/s)",
)
N_PROSODY = len(PROSODY_NAMES)


def _slope(t, v):
    """Least-squares slope of v over t (both (n,)); 0 with fewer than two points or one time."""
    if len(t) < 2 or np.ptp(t) == 0:
        return 0.0
    t = t - t.mean()
    return float(np.sum(t * (v - v.mean())) / np.sum(t * t))


def prosody(y, *, sr=audio.SAMPLE_RATE):
    """The prosody of one clip: y (n_samples,) mono ``sr`` audio -> (N_PROSODY,) float32, in the
    order of PROSODY_NAMES. Pitch values are 0 when fewer than three frames are voiced."""
    import librosa

    y = audio.trim_silence(y)
    if len(y) < PITCH_FRAME:
        y = np.pad(y, (0, PITCH_FRAME - len(y)))
    hop = audio.HOP_LENGTH
    f0 = librosa.yin(y, fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=sr, frame_length=PITCH_FRAME,
                     hop_length=hop, center=False)
    frames = librosa.util.frame(y, frame_length=PITCH_FRAME, hop_length=hop, axis=0)  # (n, PITCH_FRAME)
    n = len(frames)
    f0 = f0[:n]
    half = PITCH_FRAME // 2
    period = np.clip(np.round(sr / f0).astype(int), 1, PITCH_FRAME - half)
    a = frames[:, :half]
    b = frames[np.arange(n)[:, None], period[:, None] + np.arange(half)]
    corr = np.sum(a * b, axis=1) / np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1) + 1e-12)
    power = np.mean(np.square(frames), axis=1)
    loudness = 10.0 * np.log10(np.maximum(power / max(power.max(), 1e-12), 10.0 ** (-LOUDNESS_FLOOR_DB / 10.0)))
    voiced = (corr >= VOICING_CORRELATION) & (loudness >= -VOICING_TOP_DB)
    votes = np.convolve(np.pad(voiced.astype(float), VOICING_SMOOTH // 2, mode="edge"),
                        np.ones(VOICING_SMOOTH), mode="valid")
    voiced = votes > VOICING_SMOOTH / 2

    seconds = len(y) / sr
    t = np.arange(n) * hop / sr
    starts = np.flatnonzero(voiced & ~np.concatenate([[False], voiced[:-1]]))
    stretches = len(starts)
    voicing = [seconds, voiced.mean(), stretches / seconds, voiced.sum() * hop / sr / max(stretches, 1)]

    pitch = [0.0] * 9
    if voiced.sum() >= 3:
        st = 12.0 * np.log2(f0 / 100.0)
        sv = st[voiced]
        p10, p50, p90 = np.percentile(sv, (10, 50, 90))
        steps = np.flatnonzero(voiced[1:] & voiced[:-1])  # frame pairs voiced on both sides
        step = st[steps + 1] - st[steps]
        step = step[np.abs(step) <= MAX_STEP]
        change = step * sr / hop if len(step) else np.zeros(1)
        final = voiced & (t >= t[-1] * (1.0 - FINAL_SHARE))
        pitch = [p50, p10, p90, sv.std(), p90 - p10, np.abs(change).mean(), change.std(),
                 _slope(t[voiced], sv), (st[final].mean() - p50) if final.any() else 0.0]

    d_loud = np.diff(loudness) * sr / hop if n > 1 else np.zeros(1)
    level = [loudness.mean(), loudness.std(), *np.percentile(loudness, (10, 50, 90)), d_loud.std(),
             _slope(t, loudness)]
    return np.asarray(voicing + pitch + level, dtype=np.float32)


def prosody_table(paths, dataset, cache=None):
    """prosody() of every file in ``paths`` (relative to ``dataset``): (n, N_PROSODY) float32. With
    ``cache`` (a joblib file), reads it when it holds these paths with these settings, else writes it."""
    import joblib

    settings = {"names": PROSODY_NAMES, "fmin": PITCH_FMIN, "fmax": PITCH_FMAX, "frame": PITCH_FRAME,
                "correlation": VOICING_CORRELATION, "top_db": VOICING_TOP_DB,
                "smooth": VOICING_SMOOTH, "max_step": MAX_STEP,
                "floor_db": LOUDNESS_FLOOR_DB, "final": FINAL_SHARE, "frontend": audio.frontend_params()}
    if cache is not None and Path(cache).exists():
        stored = joblib.load(cache)
        if stored.get("settings") == settings and stored.get("paths") == list(paths):
            return stored["prosody"]
    table = np.stack([prosody(audio.load_audio(Path(dataset) / p)) for p in paths])
    if cache is not None:
        model_lib.write_atomic(cache, lambda tmp: joblib.dump(
            {"settings": settings, "paths": list(paths), "prosody": table}, tmp))
    return table


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
    parser.add_argument("--dataset", type=Path, default=Path("RAVDESS+TESS_Dataset"),
                        help="the folder the features' file paths are relative to")
    parser.add_argument("--cache", type=Path, default=None, help="joblib file keeping every clip's prosody")
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
    try:
        table = prosody_table(data["path"], args.dataset, args.cache)
    except audio.AudioError as err:
        print(f"error: {err}; give --dataset the folder the features were made from", file=sys.stderr)
        return 1
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
