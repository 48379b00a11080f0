"""Pilot: adapt our model to each unseen voice from that voice's own clips, without their labels.

    python neural_network.py --fold-cache runs/cache-ens          # once: keeps the 8 fold models (1 h 50 min)
    python experiments/adapt_voice.py --fold-cache runs/cache-ens --predictions runs/adapt
    python neural_network.py --score-predictions runs/adapt-voice-all.csv   # and the other two CSVs

Every BatchNormalization layer of our towers normalises with a mean and a variance per channel that
training estimated over the training voices. Here, for each protocol (b) test voice, those are
re-estimated from that voice's clips, layer by layer (each with the layers before it already
adapted), and blended with the trained ones: blend * trained + (1 - blend) * the voice's. A user
would record a few clips of their own voice once; no label is needed.

Four arms, each predicting every file of protocol (b) once, with the fold models that
neural_network.py kept in --fold-cache (the shipped recipe; nothing is trained here):
  plain      no adaptation; the test-time noise chosen on the held-out speakers, as the full run
             chooses it (without test-time warps);
  voice-all  each voice adapted on all its clips (the clip being predicted among them);
  voice-10   each voice adapted on ENROL_CLIPS clips of it drawn at random (20 to 35 s of speech);
  train-clean  no voice: the statistics re-estimated on the fold's training files without their
             augmented copies (training saw 2 augmented copies of every clean clip).
In each fold, the blend and the test-time noise are chosen together on the fold's held-out speakers
(each adapted on its own clips in the same way), never on its test speakers. Writes one predictions
CSV per arm (the columns of neural_network.py --predictions) and prints each fold's choices.

    python experiments/adapt_voice.py --fold-cache runs/cache-ens --predictions runs/adapt-fixed \
        --blend 0.5 --noise 20

fixes the blend and the noise on every fold instead (for the adapted arms; plain keeps its
choice): read off the test speakers, what a perfect choice could reach, not a result.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus  # noqa: E402
import model as model_lib  # noqa: E402  (sets Keras's environment before Keras is imported)
import neural_network as nn  # noqa: E402
from create_features import FEATURES_FILE, FeaturesError  # noqa: E402

import numpy as np  # noqa: E402

# Blends tried on the held-out speakers: the weight of the trained statistics (1.0: no adaptation).
ALPHAS = (1.0, 0.75, 0.5, 0.25, 0.0)
# Test-time noise tried with each blend (None: none), as model.TEST_TIME_NOISE_DB.
NOISE_OPTIONS = (None,) + tuple(model_lib.TEST_TIME_NOISE_DB)
# Clips of a voice the voice-10 arm adapts on, and the seed of their draw.
ENROL_CLIPS = 10
ENROL_SEED = 0
# The arms: name -> how many of a voice's clips it adapts on (None: all of them; 0: none;
# "train": the fold's training files, clean, for every voice alike).
ARMS = {"plain": 0, "voice-all": None, "voice-10": ENROL_CLIPS, "train-clean": "train"}


def norm_layers(net):
    """The BatchNormalization layers of ``net``, in model order."""
    import keras

    return [layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]


def adapt(net, trained, x, alpha):
    """Set every BatchNormalization layer of ``net`` to ``alpha`` * its ``trained`` statistics +
    (1 - alpha) * those of its input on ``x`` (windows, (n, N_FRAMES, N_MELS)), layer by layer."""
    import keras

    for layer, weights in zip(norm_layers(net), trained):
        layer.set_weights(weights)
    if alpha == 1.0:
        return
    for layer, (gamma, beta, mean, var) in zip(norm_layers(net), trained):
        a = np.asarray(keras.Model(net.input, layer.input)(x, training=False), dtype=np.float64)
        layer.set_weights([gamma, beta, alpha * mean + (1 - alpha) * a.mean(axis=(0, 1)),
                           alpha * var + (1 - alpha) * a.var(axis=(0, 1))])


def voice_probs(net, trained, predictor, data, noisy, files, enrol, alpha):
    """{noise option: probabilities (len(files), n_emotions)} of ``files``, the model adapted on
    the windows of the ``enrol`` files with blend ``alpha``."""
    feats = data["features"]
    adapt(net, trained, np.concatenate([predictor._inputs(feats[i]) for i in enrol]), alpha)
    clean = predictor.predict_features([feats[i] for i in files])
    out = {None: clean}
    for snr in NOISE_OPTIONS[1:]:
        out[snr] = (clean + predictor.predict_features([noisy[snr][i] for i in files])) / 2
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fold-cache", type=Path, required=True, help="neural_network.py --fold-cache folder")
    parser.add_argument("--predictions", required=True, help="prefix of the CSVs written (PREFIX-ARM.csv)")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--blend", type=float, help="use this blend on every fold, not the held-out choice")
    parser.add_argument("--noise", choices=[nn.noise_db_text(s).replace(" dB", "") for s in NOISE_OPTIONS],
                        help="with --blend: use this test-time noise on every fold")
    args = parser.parse_args(argv)
    if (args.blend is None) != (args.noise is None):
        parser.error("--blend and --noise go together")
    if args.blend is not None and not 0.0 <= args.blend <= 1.0:
        parser.error(f"--blend {args.blend:g}: give a weight from 0 to 1")
    fixed = None if args.blend is None else (args.blend, None if args.noise == "none" else float(args.noise))
    try:
        data = nn.load_data(args.features)
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    settings = nn.run_settings("cnn", data)
    labels, speakers = data["labels"], np.asarray(data["speaker"])
    folds = nn.speaker_folds(data)
    present = set(folds.tolist())

    def missing():
        raise nn.FoldCacheError(f"{args.fold_cache}: a fold is missing; run neural_network.py "
                                f"--fold-cache {args.fold_cache} first")

    print(f"test-time noisy copies of {len(labels)} files ...", flush=True)
    noisy = {snr: [] for snr in NOISE_OPTIONS[1:]}
    for i in range(len(labels)):
        power = nn.frame_power(data, i)
        for snr in noisy:
            noisy[snr].append(model_lib.noisy_view(data["features"][i], power, snr))
    meta = {"emotions": list(corpus.EMOTIONS), "architecture": "cnn", "input": model_lib.input_meta()}
    results = {arm: {"idx": [], "probs": []} for arm in ARMS}
    for k in sorted(present):
        try:
            run, _ = nn.cached_run(args.fold_cache, f"cnn-b-fold{k}", settings, missing)
        except nn.FoldCacheError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        net = nn.fold_model("cnn", run)
        trained = [layer.get_weights() for layer in norm_layers(net)]
        predictor = model_lib.Predictor(net, meta)
        v = nn.validation_fold(k, present)
        test, held = np.flatnonzero(folds == k), np.flatnonzero(folds == v)
        train = np.flatnonzero((folds != k) & (folds != v))
        files = np.concatenate([held, test])  # predicted together, then split
        for arm, clips in ARMS.items():
            alphas = (1.0,) if clips == 0 else ALPHAS if fixed is None else (fixed[0],)
            # (positions in ``files``, files adapted on): each voice on its own clips (all, or
            # ``clips`` of them), or every voice alike on the fold's training files.
            if clips == "train":
                groups = [(np.arange(len(files)), train)]
            else:
                groups = [(own, files[own] if not clips else
                           np.random.default_rng(ENROL_SEED).choice(files[own], size=clips, replace=False))
                          for s in sorted(set(speakers[held])) + sorted(set(speakers[test]))
                          for own in [np.flatnonzero(speakers[files] == s)]]
            scored = {}  # (alpha, noise) -> (held-out accuracy, test probabilities)
            for alpha in alphas:
                probs = {snr: np.zeros((len(files), len(corpus.EMOTIONS))) for snr in NOISE_OPTIONS}
                for own, enrol in groups:
                    for snr, p in voice_probs(net, trained, predictor, data, noisy, files[own], enrol,
                                              alpha).items():
                        probs[snr][own] = p
                for snr in NOISE_OPTIONS:
                    accuracy = float(np.mean(probs[snr][:len(held)].argmax(1) == labels[held]))
                    scored[alpha, snr] = accuracy, probs[snr][len(held):]
            options = scored.items() if fixed is None or clips == 0 else [(fixed, scored[fixed])]
            (alpha, snr), (accuracy, probs) = max(options, key=lambda kv: kv[1][0])  # the first best
            results[arm]["idx"].append(test)
            results[arm]["probs"].append(probs)
            print(f"fold {k} {arm}: blend {alpha:g}, noise {nn.noise_db_text(snr)} (held-out accuracy "
                  f"{accuracy:.3f}), test accuracy {np.mean(probs.argmax(1) == labels[test]):.3f}", flush=True)
        adapt(net, trained, None, 1.0)
    for arm, r in results.items():
        path = f"{args.predictions}-{arm}.csv"
        nn.write_predictions(path, data, {"cnn": {"b": {"idx": np.concatenate(r["idx"]),
                                                        "probs": np.concatenate(r["probs"])}}})
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
