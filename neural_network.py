"""Train the emotion model, report it honestly under two protocols, and ship it to model/.

    python neural_network.py                     # evaluate ours and the seed baseline, then ship ours
    python neural_network.py --arch seed         # the same with the seed's model as the one shipped
    python neural_network.py --protocols none    # only train and save the shipped model

Protocols, each reported as accuracy, macro-F1 and weighted-F1, overall and per corpus:
  (a) "random": the seed's random stratified 67/33 split of all files (every speaker on both sides);
  (b) "speakers": speaker-independent. RAVDESS actors in 6 folds of 4 (1-4, 5-8, ... 21-24) and TESS
      leave-one-speaker-out; every file is tested exactly once, by a model that never heard its speaker.
The shipped model is then trained on all files. Results go to media/ (metrics.json, reports,
confusion matrix, training curves, model summary) and the model to model/.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import corpus
import model as model_lib
from create_features import FEATURES_FILE, FeaturesError, load_features

# Architecture shipped in model/ ("cnn" is ours, "seed" the original project's).
ARCH = "cnn"
# Architecture measured beside it as the baseline (None: no baseline).
BASELINE = "seed"
# Protocols to report: "a" (random 67/33 split) and "b" (speaker-independent folds).
PROTOCOLS = ("a", "b")
# Where the model and the reports go.
MODEL_DIR = Path("model")
MEDIA_DIR = Path("media")
# Seed for every random choice (splits, weight initialisation, shuffling).
SEED = 42
# Protocol (a): share of files held out for testing, as in the seed.
TEST_SIZE = 0.33
# Training schedule per architecture. The seed's: 50 epochs, batch 16, no early stopping.
EPOCHS = {"seed": 50, "cnn": 30}
BATCH_SIZE = {"seed": 16, "cnn": 32}
# Our model stops early on speakers held out from its training folds (never the test speakers).
EARLY_STOP_PATIENCE = 6


def set_seed(seed):
    import keras
    keras.utils.set_random_seed(seed)


def class_weights(labels, n_classes):
    """Weights that make every class count the same in the loss: {class: weight}."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def fit(arch, feats, labels, *, val=None, epochs=None, seed=SEED, verbose=0):
    """Train one model of ``arch`` on stored features. ``val``: (feats, labels) for early stopping.

    Returns (keras model, history dict, epochs actually used).
    """
    import keras

    set_seed(seed)
    net = model_lib.build(arch)
    x, y = model_lib.make_input(arch, feats), np.asarray(labels)
    epochs = epochs or EPOCHS[arch]
    kwargs = {}
    if arch != "seed":
        kwargs["class_weight"] = class_weights(y, len(corpus.EMOTIONS))
    if val is not None:
        kwargs["validation_data"] = (model_lib.make_input(arch, val[0]), np.asarray(val[1]))
        if arch != "seed":
            kwargs["callbacks"] = [keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=EARLY_STOP_PATIENCE, restore_best_weights=True)]
    history = net.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE[arch], shuffle=True,
                      verbose=verbose, **kwargs).history
    used = len(history["loss"])
    if "callbacks" in kwargs and kwargs["callbacks"][0].stopped_epoch > 0:
        used = kwargs["callbacks"][0].best_epoch + 1
    return net, history, used


def predict(arch, net, feats):
    """Probabilities (n, n_emotions) through the same path as prediction (model.Predictor)."""
    meta = {"emotions": list(corpus.EMOTIONS), "architecture": arch,
            "input": {"n_frames": model_lib.N_FRAMES, "window_hop": model_lib.WINDOW_HOP}}
    return model_lib.Predictor(net, meta).predict_features(feats)


def scores(labels, preds, corpora):
    """Accuracy, macro-F1 and weighted-F1, overall and per corpus, and the file count of each."""
    from sklearn.metrics import accuracy_score, f1_score

    labels, preds, corpora = np.asarray(labels), np.asarray(preds), np.asarray(corpora)
    out = {}
    for name in ["all"] + sorted(set(corpora)):
        m = np.ones(len(labels), bool) if name == "all" else corpora == name
        out[name] = {"accuracy": float(accuracy_score(labels[m], preds[m])),
                     "macro_f1": float(f1_score(labels[m], preds[m], average="macro")),
                     "weighted_f1": float(f1_score(labels[m], preds[m], average="weighted")),
                     "files": int(m.sum())}
    return out


def protocol_random(arch, data, seed=SEED):
    """Protocol (a): random stratified 67/33 split. Returns (test indices, probabilities, epochs)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data["labels"]))
    train, test = train_test_split(idx, test_size=TEST_SIZE, random_state=seed,
                                   stratify=data["labels"])
    feats, labels = data["features"], data["labels"]
    val = None
    if arch != "seed":  # early stopping on a random tenth of the training files, as this protocol is random
        train, held = train_test_split(train, test_size=0.1, random_state=seed, stratify=labels[train])
        val = ([feats[i] for i in held], labels[held])
    net, _, used = fit(arch, [feats[i] for i in train], labels[train], val=val, seed=seed)
    return test, predict(arch, net, [feats[i] for i in test]), [used]


def speaker_folds(data):
    """Protocol (b) fold of every file: (n,) int in 0..N_SPEAKER_FOLDS-1."""
    return np.array([corpus.speaker_fold(c, s) for c, s in zip(data["corpus"], data["speaker"])])


def validation_fold(test_fold, present):
    """The fold held out for early stopping when ``test_fold`` is tested: the next RAVDESS fold."""
    ravdess = [f for f in range(24 // corpus.RAVDESS_ACTORS_PER_FOLD) if f in present and f != test_fold]
    nxt = [f for f in ravdess if f > test_fold] or ravdess
    return nxt[0] if nxt else None


def protocol_speakers(arch, data, seed=SEED, log=print):
    """Protocol (b): every file tested once by a model that never heard its speaker.

    Returns (test indices, probabilities, epochs used per fold).
    """
    folds = speaker_folds(data)
    feats, labels = data["features"], data["labels"]
    order, probs, used_all = [], [], []
    present = set(folds.tolist())
    for k in sorted(present):
        test = np.flatnonzero(folds == k)
        v = validation_fold(k, present) if arch != "seed" else None
        train = np.flatnonzero((folds != k) & (folds != v))
        if len(train) == 0:
            continue
        val = None
        if v is not None:
            held = np.flatnonzero(folds == v)
            val = ([feats[i] for i in held], labels[held])
        t = time.perf_counter()
        net, _, used = fit(arch, [feats[i] for i in train], labels[train], val=val, seed=seed)
        p = predict(arch, net, [feats[i] for i in test])
        acc = float(np.mean(p.argmax(1) == labels[test]))
        speakers = sorted(set(data["speaker"][i] for i in test))
        log(f"  [{arch}] fold {k}: test {speakers[0]}..{speakers[-1]} ({len(test)} files), "
            f"{len(train)} train, {used} epochs, accuracy {acc:.3f}, {time.perf_counter() - t:.0f} s")
        order.append(test)
        probs.append(p)
        used_all.append(used)
    return np.concatenate(order), np.concatenate(probs), used_all


def evaluate(arch, data, protocols, log=print):
    """Run the protocols for one architecture. Returns {protocol: result dict}."""
    results = {}
    for p in protocols:
        t = time.perf_counter()
        run = protocol_random if p == "a" else protocol_speakers
        kwargs = {} if p == "a" else {"log": log}
        idx, probs, used = run(arch, data, **kwargs)
        labels = data["labels"][idx]
        corpora = [data["corpus"][i] for i in idx]
        results[p] = {"scores": scores(labels, probs.argmax(1), corpora),
                      "epochs": used, "seconds": round(time.perf_counter() - t, 1),
                      "labels": labels, "probs": probs, "corpora": corpora}
        s = results[p]["scores"]
        log(f"[{arch}] protocol ({p}): " + ", ".join(
            f"{k} acc {v['accuracy']:.3f} macro-F1 {v['macro_f1']:.3f}" for k, v in s.items())
            + f" ({results[p]['seconds']:.0f} s)")
    return results


# ----------------------------------------------------------------------------- reports

def write_reports(media, arch, results, history, net, summary_table):
    """Write the classification reports, confusion matrix, curves, summary and metrics to media/."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import classification_report, confusion_matrix

    media = Path(media)
    media.mkdir(parents=True, exist_ok=True)
    names = list(corpus.EMOTIONS)

    lines = []
    net.summary(print_fn=lambda s, **_: lines.append(s))
    model_lib.write_atomic(media / "model_summary.txt",
                           lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))

    report = []
    for p, r in results.get(arch, {}).items():
        title = {"a": "protocol (a), random 67/33 split",
                 "b": "protocol (b), speaker-independent folds"}[p]
        report.append(f"{arch} model, {title}\n")
        report.append(classification_report(r["labels"], r["probs"].argmax(1), labels=range(len(names)),
                                            target_names=names, digits=3, zero_division=0))
    if report:
        model_lib.write_atomic(media / "classification_report.txt",
                               lambda tmp: Path(tmp).write_text("\n".join(report)))

    chosen = results.get(arch, {}).get("b") or results.get(arch, {}).get("a")
    if chosen is not None:
        cm = confusion_matrix(chosen["labels"], chosen["probs"].argmax(1), labels=range(len(names)))
        fig, ax = plt.subplots(figsize=(7, 6))
        ax.imshow(cm, cmap="Blues")
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, cm[i, j], ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        which = "speaker-independent, protocol (b)" if "b" in results.get(arch, {}) else "protocol (a)"
        ax.set_title(f"{arch} model, {which}")
        fig.tight_layout()
        model_lib.write_atomic(media / "confusion_matrix.png", lambda tmp: fig.savefig(tmp, format="png"))
        plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(history[key], label="train")
        ax.set_title(f"{key}, shipped {arch} model (all files)")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    model_lib.write_atomic(media / "training_curves.png", lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)

    metrics = {a: {p: {k: r[k] for k in ("scores", "epochs", "seconds")} for p, r in res.items()}
               for a, res in results.items()}
    metrics["shipped"] = arch
    metrics["table"] = summary_table
    model_lib.write_atomic(media / "metrics.json",
                           lambda tmp: Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n"))


def summary(results):
    """A Markdown table of every architecture and protocol: overall, RAVDESS and TESS scores."""
    rows = ["| model | protocol | accuracy | macro-F1 | weighted-F1 | RAVDESS acc | TESS acc |",
            "|---|---|---|---|---|---|---|"]
    names = {"a": "(a) random 67/33 split", "b": "(b) unseen speakers"}
    for arch, res in results.items():
        for p, r in res.items():
            s = r["scores"]
            per = [f"{s[c]['accuracy']:.3f}" if c in s else "-" for c in ("RAVDESS", "TESS")]
            rows.append(f"| {arch} | {names[p]} | {s['all']['accuracy']:.3f} | "
                        f"{s['all']['macro_f1']:.3f} | {s['all']['weighted_f1']:.3f} | "
                        f"{per[0]} | {per[1]} |")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=model_lib.ARCHITECTURES, default=ARCH,
                        help="architecture to ship")
    parser.add_argument("--baseline", default=BASELINE,
                        help="architecture measured beside it ('none' for no baseline)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS),
                        help="comma-separated protocols to report: a, b, or none")
    parser.add_argument("--features", type=Path, default=FEATURES_FILE, help="features file")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where to save the model")
    parser.add_argument("--media-dir", type=Path, default=MEDIA_DIR, help="where to write reports")
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs of every model")
    args = parser.parse_args(argv)
    protocols = [p for p in args.protocols.split(",") if p in ("a", "b")]
    if args.protocols not in ("none", "") and len(protocols) != len(args.protocols.split(",")):
        parser.error(f"--protocols: use a, b, a,b or none (got {args.protocols})")
    if args.baseline not in ("none", *model_lib.ARCHITECTURES):
        parser.error(f"--baseline: use none or one of {', '.join(model_lib.ARCHITECTURES)}")
    if args.epochs:
        for a in EPOCHS:
            EPOCHS[a] = args.epochs

    try:
        data = load_features(args.features)
    except FeaturesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(data['labels'])} files from {args.features}: " + ", ".join(
        f"{c} {data['corpus'].count(c)}" for c in sorted(set(data["corpus"]))))

    start = time.perf_counter()
    archs = [args.arch] + ([args.baseline] if args.baseline not in ("none", args.arch) else [])
    results = {a: evaluate(a, data, protocols) for a in archs} if protocols else {}
    table = summary(results) if results else ""
    if table:
        print(table)

    # The shipped model: all files, as many epochs as early stopping chose under protocol (b).
    chosen = results.get(args.arch, {}).get("b", {}).get("epochs")
    epochs = int(np.median(chosen)) if chosen and args.arch != "seed" else EPOCHS[args.arch]
    t = time.perf_counter()
    net, history, _ = fit(args.arch, data["features"], data["labels"], epochs=epochs)
    train_seconds = time.perf_counter() - t
    extra = {"trained_on": {"files": len(data["labels"]), "epochs": epochs,
                            "seconds": round(train_seconds, 1),
                            "corpora": sorted(set(data["corpus"]))}}
    if results.get(args.arch):
        extra["evaluation"] = {p: r["scores"] for p, r in results[args.arch].items()}
    model_lib.save(net, args.model_dir, arch=args.arch, extra=extra)
    write_reports(args.media_dir, args.arch, results, history, net, table)
    print(f"shipped {args.arch} model trained on {len(data['labels'])} files for {epochs} epochs "
          f"in {train_seconds:.0f} s -> {args.model_dir / model_lib.MODEL_FILE}; "
          f"reports in {args.media_dir}/; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
