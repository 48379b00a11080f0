"""Measured: the fourth voice on a richer summary of each clip's speech embedding.

    python experiments/embedding_pooling.py --fold-cache runs/cache42              # 22 min here the first time (beside tests)
    python experiments/embedding_pooling.py --fold-cache runs/cache48 --seed 48    # 11 min (summaries kept)

The product's fourth voice (neural_network.FOURTH_VOICE) sees a clip as the mean, standard
deviation and maximum over its windows of Google's speech embedding (embedding.Embedder.embed:
3 x 96 numbers). This gives it more of the same windows: their minimum and the PERCENTILES too
(``pooled``: 7 x 96 numbers, the product's 288 first). Each file's richer summary is made by the
product's own embedder, clean and under every robustness condition as create_features.py makes
them (augment.apply_condition, seeded by the file's path); its first 288 numbers must equal the
features file's, or the script stops. Kept in POOLED_NAME beside the features file.

It then runs the product's protocol (b) twice from a README run's kept folds
(neural_network.evaluate): as kept, and with the fourth voice trained on the richer summary by the
product's own rules (each fold's C among FOURTH_VOICE_C_GRID on the other folds' RAVDESS actors,
its w on the other folds' files, each corpus counting the same). The second run keeps its fourth
voice in the fold cache's folder SIDE_CACHE, beside links to every other kept file. It prints both
runs' lines (overall, per corpus, the RAVDESS women and men, ECE, log-loss, happy's recall, files
right), the fourth voice alone and what each fold chose, the robustness rows, and the differences
the plan's bar reads.

Plan (2026-12-06, thirtieth session), committed before any blended number was scored:
experiments/README.md, "Plan: a richer summary of each clip's speech embedding".

Verdict (2026-12-06): not shipped, and not tried again. Alone the richer fourth voice scores 0.425
against 0.400, but blended into the product it moved seed 42 0.705 → 0.704 and seed 48 0.713 →
0.715: +0.05 on the mean, against a pilot bar of +0.5 and a gain on both (experiments/README.md,
"Measured: the richer summary fails its pilot").
"""

import hashlib
import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
import augment  # noqa: E402
import embedding  # noqa: E402
import neural_network as nn  # noqa: E402
from create_features import DATASET_DIR  # noqa: E402
from partner_weight import bad_input_exits, fold_cache_parser, kept_run  # noqa: E402
from stacker import line  # noqa: E402

import joblib  # noqa: E402
import numpy as np  # noqa: E402

# The percentiles of each embedding number over a clip's windows, after its minimum.
PERCENTILES = (25, 50, 75)
# Numbers in a clip's richer summary: mean, standard deviation, maximum, minimum, the percentiles.
N_POOLED = (4 + len(PERCENTILES)) * embedding.EMBEDDING_SIZE
# Where the richer summaries are kept, beside the features file.
POOLED_NAME = "speech_embedding_pooled.joblib"
# The folder, inside --fold-cache, that holds the richer fourth voice's kept classifiers.
SIDE_CACHE = "pooled"


def pooled(windows):
    """(N_POOLED,) float32 summary of ``windows`` (n_windows, EMBEDDING_SIZE): the product's
    (embedding.Embedder.embed: mean, standard deviation, maximum), then the minimum and PERCENTILES."""
    return np.concatenate([windows.mean(axis=0), windows.std(axis=0), windows.max(axis=0), windows.min(axis=0),
                           np.percentile(windows, PERCENTILES, axis=0).ravel()]).astype(np.float32)


def made_from(data):
    """What the kept summaries depend on: the files, the embedding's settings and this file's
    summary code."""
    key = hashlib.sha256("\n".join(data["path"]).encode())
    key.update(repr(sorted(data["embedding_params"].items())).encode())
    key.update(inspect.getsource(pooled).encode())
    return key.hexdigest()


def pooled_features(data, embedder, *, root=DATASET_DIR, log=print):
    """(clean (n, N_POOLED), {condition: (n, N_POOLED)}): ``pooled`` of each file of ``data`` and of
    it under each condition of data["condition_embeddings"], degraded as create_features.featurize
    degrades it. Raises nn.FeaturesError when the first 288 numbers differ from the features file's
    (another embedder or other audio than the one the features were made from)."""
    conditions = sorted(data["condition_embeddings"])
    clean, under = [], {c: [] for c in conditions}
    for i, path in enumerate(data["path"]):
        y = audio.load_audio(Path(root) / path)
        clean.append(pooled(embedder.windows(y)))
        for c in conditions:
            under[c].append(pooled(embedder.windows(augment.apply_condition(y, c, augment.seed_for(path, -1)))))
        if (i + 1) % 500 == 0:
            log(f"  richer summaries, clean and under {len(conditions)} conditions: {i + 1} of {len(data['path'])} files")
    clean, under = np.stack(clean), {c: np.stack(r) for c, r in under.items()}
    n = embedding.N_EMBEDDING
    for name, x, stored in [("clean", clean, data["embeddings"]),
                            *((c, under[c], data["condition_embeddings"][c]) for c in conditions)]:
        if not np.array_equal(x[:, :n], stored):
            raise nn.FeaturesError(f"the speech embeddings ({name}) made here differ from the features file's; "
                                   "re-run `python create_features.py`")
    return clean, under


def kept_pooled(data, features, log=print):
    """pooled_features of ``data``, kept in POOLED_NAME beside ``features`` and read back while
    made_from(data) is unchanged."""
    path = Path(features).parent / POOLED_NAME
    key = made_from(data)
    if path.exists():
        kept = joblib.load(path)
        if kept.get("made_from") == key:
            log(f"richer summaries read from {path}")
            return kept["clean"], kept["conditions"]
    log("making every file's richer summary (clean and under each robustness condition)")
    clean, under = pooled_features(data, embedding.Embedder(), log=log)
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump({"made_from": key, "clean": clean, "conditions": under}, tmp)
    tmp.replace(path)
    return clean, under


def side_cache(cache, *, folder=SIDE_CACHE, retrained=("fourth-voice-b",)):
    """cache / ``folder`` with a link to every kept file of ``cache`` but those named in
    ``retrained`` (default the fourth voice's, which the richer run trains and keeps there);
    returns it."""
    side = Path(cache) / folder
    side.mkdir(exist_ok=True)
    for path in sorted(Path(cache).glob("*.joblib")):
        if path.stem not in retrained and not (side / path.name).exists():
            (side / path.name).symlink_to(path.resolve())
    return side


def both_runs(data, clean, under, cache, log=print):
    """(the product's protocol (b) result from the fold cache ``cache``, the same with the fourth
    voice trained on the richer summaries ``clean`` (n, N_POOLED) and ``under`` ({condition: the
    same}), kept in side_cache(cache))."""
    product = nn.evaluate("cnn", data, ["b"], log=log, cache=cache)["b"]
    richer = nn.evaluate("cnn", dict(data, embeddings=clean, condition_embeddings=under), ["b"], log=log,
                         cache=side_cache(cache))["b"]
    return product, richer


def report(name, r, data, voices=("fourth_voice",)):
    """Print a run's lines: as stacker.line, then each of ``voices``' (last voices of
    neural_network.evaluate's result ``r``) choices and accuracy alone, then the robustness rows."""
    rows = [dict(corpus=data["corpus"][i], speaker=data["speaker"][i], path=data["path"][i]) for i in r["idx"]]
    print(line(name, r["probs"], r["labels"], rows))
    for key in voices:
        chosen, alone = r[key], r[f"{key}_alone"]
        print(f"  {key.replace('_', ' ')}: C per fold {chosen['c']}, w per fold {chosen['weights']}; alone "
              + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in alone.items()))
    print("  robustness: " + ", ".join(f"{c} {a:.3f}" for c, a in r["robustness"].items()))


def difference(r, product):
    """What a run's (b) result ``r`` gained over ``product``'s, in points overall and per corpus,
    and its ECE's change, as one line's text."""
    gain = {k: 100 * (r["scores"][k]["accuracy"] - product["scores"][k]["accuracy"])
            for k in ("all", "RAVDESS", "TESS")}
    return (", ".join(f"{k} {v:+.2f} points" for k, v in gain.items())
            + f"; ECE {r['ece']['uncalibrated'] - product['ece']['uncalibrated']:+.3f}")


def main(argv=None):
    args = fold_cache_parser(__doc__.split("\n")[0]).parse_args(argv)
    nn.SEED = args.seed
    with bad_input_exits():
        kept_run(args.fold_cache)  # before the summaries, which take minutes
        data = nn.load_data(args.features)
        nn.fourth_voice_inputs(data)  # the stored embeddings are this machine's embedder's
        clean, under = kept_pooled(data, args.features)
        product, richer = both_runs(data, clean, under, args.fold_cache)
    print(f"seed {args.seed}:")
    report("the product", product, data)
    report("richer summary", richer, data)
    print("richer minus the product: " + difference(richer, product))
    return 0


if __name__ == "__main__":
    sys.exit(main())
