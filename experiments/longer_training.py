"""Pilot: train each protocol (b) fold model of a fold cache for more epochs, and keep the result
in a copy of the cache that neural_network.py scores as it scores any other.

    python experiments/longer_training.py --cache runs/cache42 --out runs/cache42-longer
    python neural_network.py --seed 42 --protocols b --baseline none --no-ship \
        --fold-cache runs/cache42-longer --predictions runs/longer42.csv
    python experiments/longer_training.py --cache runs/cache42 --out runs/cache42-ravdess --corpus RAVDESS

Every (b) fold model of the shipped recipe stops at the 40-epoch cap (neural_network.EPOCHS) with
its held-out actors' loss at or near its lowest, and it fits its own RAVDESS training clips only
about 4 times in 5 (TESS's every time). So each fold model here goes on from its kept weights for
up to EXTRA_EPOCHS more epochs, with the same training files, augmentation, loss weights and
learning rate, each tower stopping early on its own held-out loss (neural_network.tower_checkpoints,
patience neural_network.EARLY_STOP_PATIENCE) and keeping its best weights: those it started with
when no later epoch beats them. A fresh Adam starts the extra epochs (the fold cache keeps weights,
not the optimiser's state), so this approximates a longer cap; it is not the same run.

With ``--corpus RAVDESS`` the extra epochs train on that corpus's training files alone (and their
augmented copies); the held-out files, which stop them, are RAVDESS actors either way.

The copy keeps the fold's settings as they were, so neural_network.py reads the longer-trained
weights as the fold's model and chooses the test-time views, the blend and everything else on the
held-out speakers as it always does; the partner's kept folds are copied unchanged. The copy is
therefore not what the recipe in its settings trains: use it for this measurement only (it lives
under runs/, never in model/). The script prints, per fold, the epochs each tower added, its held-
out loss before and after, and the fold's accuracy on its own training and held-out clips (each
clip alone) before and after.
"""

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus  # noqa: E402
import model as model_lib  # noqa: E402
import neural_network as nn  # noqa: E402

import numpy as np  # noqa: E402

# Most epochs added to each fold model (its held-out loss may stop it sooner).
EXTRA_EPOCHS = 15
# Added to the run's seed for the extra epochs' batches and augmentation draws, so that they do
# not replay the first epochs' draws.
SEED_OFFSET = 1000
# Corpora whose training files --corpus may restrict the extra epochs to.
CORPORA = ("RAVDESS", "TESS")
# The fold models this extends: ours under protocol (b) (name as neural_network.protocol_speakers
# keeps it).
ARCH = "cnn"


def fold_files(data, k, corpus_name=None):
    """(train, held) file indices of protocol (b) fold ``k``, as neural_network.protocol_speakers makes
    them; with ``corpus_name``, only that corpus's training files."""
    folds = nn.speaker_folds(data)
    v = nn.validation_fold(k, set(folds.tolist()))
    train = (folds != k) & (folds != v)
    if corpus_name is not None:
        train &= np.asarray(data["corpus"]) == corpus_name
    return np.flatnonzero(train), np.flatnonzero(folds == v)


def accuracy(net, data, idx):
    """Accuracy of ``net`` (the ensemble) on files ``idx``, each clip alone, per corpus: {corpus: acc}."""
    probs = nn.predict(ARCH, net, [data["features"][i] for i in idx])
    by_corpus = nn.scores(data["labels"][idx], probs.argmax(1), np.asarray(data["corpus"])[idx])
    return {c: v["accuracy"] for c, v in by_corpus.items() if c != "all"}


def extend(data, trained, train, held, *, seed, extra_epochs=EXTRA_EPOCHS):
    """Train a train_fold dict's model (``trained``) for up to ``extra_epochs`` more epochs on files
    ``train``, each tower early stopping on its loss on files ``held``.

    Returns (a train_fold dict: the new weights, {tower: epochs in all}, seconds in all;
    {tower: (held-out loss before, after)}).
    """
    start = time.perf_counter()
    nn.set_seed(seed + SEED_OFFSET)
    net = model_lib.build(ARCH)
    model_lib.ensemble(net).set_weights(trained["weights"])  # the towers' layers are shared
    feats, labels, corpora = nn.training_set(ARCH, data, train)
    batches = nn.train_batches(feats, labels, nn.BATCH_SIZE[ARCH], seed + SEED_OFFSET, corpora)
    one_hot = np.eye(len(corpus.EMOTIONS), dtype=np.float32)[data["labels"][held]]
    val = (model_lib.make_input(ARCH, [data["features"][i] for i in held]),
           {name: one_hot for name in model_lib.CNN_TOWERS})
    logs = net.evaluate(*val, verbose=0, return_dict=True)
    before = {name: float(logs[f"{name}_loss"]) for name in model_lib.CNN_TOWERS}
    checkpoints = nn.tower_checkpoints(net, patience=nn.EARLY_STOP_PATIENCE)
    begin = checkpoints.on_train_begin

    def begin_from_kept(logs=None):
        # The kept weights are each tower's best so far (0 epochs added) until an epoch beats them.
        begin(logs)
        for name in model_lib.CNN_TOWERS:
            checkpoints.best[name] = before[name]
            checkpoints.save(name, -1)

    end, best = checkpoints.on_train_end, {}

    def end_keeping_best(logs=None):
        # Each tower's epochs added up to the weights it keeps (tower_checkpoints would count every
        # epoch trained while the tower was within its patience).
        best.update(checkpoints.epochs)
        end(logs)

    checkpoints.on_train_begin, checkpoints.on_train_end = begin_from_kept, end_keeping_best
    net.fit(batches, epochs=extra_epochs, validation_data=val, callbacks=[checkpoints], verbose=0)
    logs = net.evaluate(*val, verbose=0, return_dict=True)
    after = {name: float(logs[f"{name}_loss"]) for name in model_lib.CNN_TOWERS}
    epochs = {name: trained["epochs"][name] + best[name] for name in model_lib.CNN_TOWERS}
    out = {"weights": model_lib.ensemble(net).get_weights(), "epochs": epochs,
           "train_seconds": round(trained["train_seconds"] + time.perf_counter() - start, 1)}
    return out, {name: (before[name], after[name]) for name in model_lib.CNN_TOWERS}


def load_kept(path):
    """A fold cache file's {"settings", "run"}; exits with a one-line error when it is not one."""
    import joblib

    try:
        stored = joblib.load(path)
        stored["settings"]["seed"], stored["run"]["weights"]
    except Exception as err:  # a damaged pickle raises many types; all mean the same here
        sys.exit(f"error: {path}: not a readable fold cache file ({err.__class__.__name__}); "
                 "run neural_network.py --fold-cache again to remake it")
    return stored


def main(argv=None):
    import joblib

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="fold cache with the (b) fold models to extend")
    parser.add_argument("--out", type=Path, required=True, help="new folder: the copy with the extended fold models")
    parser.add_argument("--extra-epochs", type=int, default=EXTRA_EPOCHS, help="most epochs added per fold model")
    parser.add_argument("--corpus", choices=CORPORA, default=None,
                        help="train the extra epochs on this corpus's training files only (default: all)")
    parser.add_argument("--folds", default=None, help="comma-separated (b) folds to extend (default: every kept one)")
    parser.add_argument("--features", type=Path, default=nn.FEATURES_FILE, help="features file")
    args = parser.parse_args(argv)
    kept = sorted(args.cache.glob(f"{ARCH}-b-fold[0-9].joblib"))
    if not kept:
        sys.exit(f"error: {args.cache}: no {ARCH}-b-foldK.joblib fold models to extend; "
                 "run neural_network.py --fold-cache there first")
    if args.out.exists():
        sys.exit(f"error: {args.out} already exists; give --out a new folder")
    if args.extra_epochs < 1:
        sys.exit(f"error: --extra-epochs {args.extra_epochs}: give 1 or more")
    present = {int(path.stem.rsplit("fold", 1)[1]): path for path in kept}  # fold -> its file
    try:
        only = set(present) if args.folds is None else {int(k) for k in args.folds.split(",")}
    except ValueError:
        only = None
    if not only or not only <= set(present):
        sys.exit(f"error: --folds {args.folds}: give folds kept in {args.cache}, comma-separated "
                 f"({','.join(map(str, sorted(present)))})")
    seed = load_kept(kept[0])["settings"]["seed"]
    try:
        data = nn.load_data(args.features)
    except ValueError as err:
        sys.exit(f"error: {err}")
    work = args.out.with_name(args.out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(args.cache, work)
    for k in sorted(only):
        path = present[k]
        stored = load_kept(path)
        train, held = fold_files(data, k)  # the fit is reported on all the fold's training files
        net = nn.fold_model(ARCH, stored["run"])
        fit_before = accuracy(net, data, train)
        held_before = accuracy(net, data, held)
        trained_on, _ = fold_files(data, k, args.corpus)
        longer, losses = extend(data, stored["run"], trained_on, held, seed=seed, extra_epochs=args.extra_epochs)
        net = nn.fold_model(ARCH, longer)
        fit_after, held_after = accuracy(net, data, train), accuracy(net, data, held)
        model_lib.write_atomic(work / path.name, lambda tmp: joblib.dump(
            {"settings": stored["settings"], "run": longer}, tmp))
        print(f"fold {k}: epochs {nn.epochs_text(stored['run']['epochs'])} -> {nn.epochs_text(longer['epochs'])}; "
              "held-out loss " + ", ".join(f"{name} {a:.3f} -> {b:.3f}" for name, (a, b) in losses.items())
              + "; training clips " + ", ".join(f"{c} {fit_before[c]:.3f} -> {fit_after[c]:.3f}" for c in fit_before)
              + "; held-out " + ", ".join(f"{c} {held_before[c]:.3f} -> {held_after[c]:.3f}" for c in held_before)
              + f"; {longer['train_seconds'] - stored['run']['train_seconds']:.0f} s", flush=True)
    work.rename(args.out)
    print(f"wrote {args.out}; score it with: python neural_network.py --seed {seed} --protocols b "
          f"--baseline none --no-ship --fold-cache {args.out}")


if __name__ == "__main__":
    main()
