"""Featurize the dataset folder into joblib_features/: log-mel frames, labels, speakers, corpora.

    python create_features.py                                  # RAVDESS+TESS_Dataset/ -> joblib_features/
    python create_features.py --dataset ../shared/datasets     # any folder with the corpora's layout
    python create_features.py --augment 0 --no-robustness      # only the plain features (fastest)
    python create_features.py --no-embedding                   # without the speech embedding (6 min less here)
    python create_features.py --scheduler tcp://host:8786      # the per-file work on a Dask cluster

Writes three files: features.joblib (every file's features, its prosody (audio.prosody), its
functionals (audio.functionals) and its speech embedding (embedding.py, the fourth voice's 288
numbers), the last three also under each robustness condition, label, speaker, corpus and path),
augmented.joblib
(AUGMENT_COPIES randomly distorted training copies of every file, see augment.py, and their
functionals) and
robustness.joblib (every file under the fixed conditions of the robustness report).
Every audio file is read through the one front end (audio.py); its parameters are saved in the
features file, so training refuses features made with other settings. The file is written to a
temporary name and renamed, so a crash never leaves half a features file. Files that cannot be
used are skipped, counted, and listed with their reason.

A corpus that outgrows one machine is featurized on a Dask cluster (``dask.distributed``) through
joblib's dask backend: start a scheduler and workers (``dask scheduler``, ``dask worker ADDRESS``)
with this project's requirements installed and the dataset at the same absolute path on every
worker (a shared file system), and pass ``--scheduler ADDRESS``. This project's modules are sent
to the workers.
The features are the same as a local run's, in the same order.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import audio
import augment
import corpus
import embedding
from model import write_atomic

# Folder holding the corpora (see download_data.py); any depth, RAVDESS and TESS names.
DATASET_DIR = Path("RAVDESS+TESS_Dataset")
# Where the features go.
FEATURES_FILE = Path("joblib_features") / "features.joblib"
# Beside it: the augmented training copies and the robustness conditions (same rows, same order).
AUGMENTED_NAME = "augmented.joblib"
ROBUSTNESS_NAME = "robustness.joblib"
# Randomly distorted training copies made of every file (0: none).
AUGMENT_COPIES = 2
# Worker processes: every core this process may use.
N_JOBS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
# Files handed to a worker at a time (fewer round trips than one by one).
BATCH_SIZE = 32
# Whether to store every file's speech embedding (embedding.py; the fourth voice trains on them):
# about 20 ms a clip and condition, so about 6 min more for both corpora here (527.5 s in all
# on 2 cores, beside other work, against about 2 min without).
EMBEDDING = True
# Dask scheduler address (e.g. tcp://10.0.0.5:8786); None featurizes on this machine.
SCHEDULER = None
# Seconds to wait for the Dask scheduler to answer before giving up.
SCHEDULER_TIMEOUT = 10

# Per-file metadata kept beside the features, one list entry per file.
META_FIELDS = ("path", "corpus", "speaker", "emotion", "vocal_channel", "intensity", "statement")


class FeaturesError(ValueError):
    """A features file that cannot be used; the message names it and says what to do."""


def featurize(path, relpath="", n_augment=0, conditions=(), embed_dir=None):
    """Features of one file, or the reason it cannot be used.

    Returns (result, None) or (None, reason). ``result`` holds "base": (n_frames, N_MELS) float32,
    "prosody": (N_PROSODY,) float32, "functionals": (N_FUNCTIONALS,) float32, "augmented":
    n_augment such arrays of random copies (seeded by ``relpath``), "augmented_functionals": their
    functionals, "conditions": {condition: array} for the robustness conditions, and
    "condition_prosody" and "condition_functionals": {condition: the same of the degraded audio}.
    With ``embed_dir`` (the speech embedding's networks, embedding.NETWORK_DIR), also "embedding":
    (N_EMBEDDING,) float32 and "condition_embeddings": {condition: the same of the degraded audio}.
    """
    try:
        y = audio.load_audio(path)
        audio.check_clip(y, path)
    except audio.AudioError as err:
        return None, str(err).split(": ", 1)[-1]
    copies = [augment.augment(y, np.random.default_rng(augment.seed_for(relpath, c)))
              for c in range(n_augment)]
    degraded = {c: augment.apply_condition(y, c, augment.seed_for(relpath, -1)) for c in conditions}
    base, base_prosody, base_functionals = clip_features(y)
    each = {c: clip_features(z) for c, z in degraded.items()}
    copied = [clip_features(z) for z in copies]
    embedded = {}
    if embed_dir is not None:  # the same networks and settings as model.Predictor's
        embedder = embedding.Embedder(embed_dir)
        embedded = {"embedding": embedder.embed(y),
                    "condition_embeddings": {c: embedder.embed(z) for c, z in degraded.items()}}
    return {"base": base, "prosody": base_prosody, "functionals": base_functionals, **embedded,
            "augmented": [f for f, _, _ in copied], "augmented_functionals": [x for _, _, x in copied],
            "conditions": {c: f for c, (f, _, _) in each.items()},
            "condition_prosody": {c: p for c, (_, p, _) in each.items()},
            "condition_functionals": {c: x for c, (_, _, x) in each.items()}}, None


def clip_features(y):
    """(audio.features(y), audio.prosody(y), audio.functionals(y)), the frame power they all trim
    by and the mel power the first and last start from taken once; the prosody is the functionals'
    last N_PROSODY numbers (the same values)."""
    power = audio.frame_power(y)
    mel = audio.clip_mel(y, power=power)
    functionals = audio.functionals(y, power=power, mel=mel)
    return audio.features(y, power=power, mel=mel), functionals[-audio.N_PROSODY:].copy(), functionals


def featurize_all(paths, relpaths=None, n_jobs=N_JOBS, progress=True, n_augment=0, conditions=(),
                  scheduler=None, scheduler_timeout=SCHEDULER_TIMEOUT, embed_dir=None):
    """Featurize many files in parallel: joblib's processes here, or a Dask cluster at ``scheduler``
    (featurize's arguments for each; ``embed_dir`` as an absolute path, the same on every worker).

    Returns a list of featurize() results, in order.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    relpaths = relpaths or [str(p) for p in paths]
    embed_dir = None if embed_dir is None else str(Path(embed_dir).resolve())
    jobs = [(p, r, n_augment, tuple(conditions), embed_dir) for p, r in zip(paths, relpaths)]
    if scheduler:
        return featurize_on_dask(jobs, scheduler, progress=progress, timeout=scheduler_timeout)
    if n_jobs == 1:
        results = (featurize(*job) for job in jobs)
    else:
        results = Parallel(n_jobs=n_jobs, batch_size=BATCH_SIZE, return_as="generator")(
            delayed(featurize)(*job) for job in jobs)
    return list(tqdm(results, total=len(paths), unit="file", disable=not progress,
                     desc="featurizing"))


def pack(arrays):
    """A list of (n_i, N_MELS) arrays as one (sum n_i, N_MELS) array and (len + 1,) offsets."""
    frames = np.concatenate(arrays) if arrays else np.zeros((0, audio.N_MELS), np.float32)
    return frames, np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)


def unpack(frames, offsets):
    """The inverse of pack: a list of views into ``frames``."""
    return [frames[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def featurize_on_dask(jobs, scheduler, progress=True, timeout=SCHEDULER_TIMEOUT):
    """featurize() of every job on a Dask cluster through joblib's dask backend, in order.

    Raises FeaturesError when the scheduler cannot be reached.
    """
    import joblib
    from distributed import Client

    jobs = [(os.path.abspath(p), *rest) for p, *rest in jobs]  # the workers may run in another folder
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise FeaturesError(f"{scheduler}: cannot reach the Dask scheduler ({err.__class__.__name__}); "
                            "check the address and that `dask scheduler` is running") from None
    with client:
        for module in ("audio.py", "augment.py", "corpus.py", "embedding.py", "numpy_model.py", "model.py",
                       "create_features.py"):
            client.upload_file(str(Path(__file__).resolve().parent / module), load=False)
        if progress:
            n = len(client.nthreads())
            print(f"featurizing {len(jobs)} files on {n} Dask worker(s) at {scheduler}", flush=True)
        with joblib.parallel_config(backend="dask"):
            return joblib.Parallel(batch_size=BATCH_SIZE)(joblib.delayed(featurize)(*job) for job in jobs)


def save_features(data, path):
    """Write a features dict with joblib to a temporary file, then rename it over ``path``."""
    import joblib

    write_atomic(path, lambda tmp: joblib.dump(data, tmp))


def load_features(path=FEATURES_FILE):
    """Read a features file written by this script and check it against the front end.

    Returns a dict with ``features`` (list of (n_frames, N_MELS) float32), ``prosody`` (n,
    N_PROSODY) float32, ``condition_prosody`` ({robustness condition: (n, N_PROSODY)}, empty when
    made without them), ``functionals`` (n, N_FUNCTIONALS) float32 and ``condition_functionals``
    (the same per condition), ``embeddings`` (n, N_EMBEDDING) float32 and ``condition_embeddings``
    (the same per condition; both None when made with --no-embedding, and ``embedding_params``
    then None), ``labels`` (n,) int, ``emotions`` (the label order), the META_FIELDS lists,
    ``skipped``, ``frontend`` and ``functionals_params``.
    """
    import joblib

    path = Path(path)
    if not path.is_file():
        raise FeaturesError(f"{path}: no features file; run `python create_features.py` first")
    try:
        data = joblib.load(path)
        features = unpack(data["frames"], data["offsets"])
        n = len(features)
        if len(data["labels"]) != n or any(len(data[k]) != n for k in META_FIELDS):
            raise ValueError("lengths differ")
    except Exception as err:  # joblib/pickle raise many types for a damaged file; all mean the same
        raise FeaturesError(f"{path}: corrupted features file ({err.__class__.__name__}); "
                            "re-run `python create_features.py`") from None
    if data.get("frontend") != audio.frontend_params():
        raise FeaturesError(f"{path}: made with other front-end parameters than audio.py's; "
                            "re-run `python create_features.py`")
    shape, conditions = (n, audio.N_PROSODY), data.get("condition_prosody")
    if not isinstance(conditions, dict) or any(
            np.shape(p) != shape for p in [data.get("prosody"), *conditions.values()]):
        raise FeaturesError(f"{path}: its prosody is missing or not one row per file; "
                            "re-run `python create_features.py`")
    conditions = data.get("condition_functionals")
    if not isinstance(conditions, dict) or not functionals_match(data, [data.get("functionals"),
                                                                         *conditions.values()], n):
        raise FeaturesError(f"{path}: its functionals are missing or made with other settings than "
                            "audio.py's; re-run `python create_features.py`")
    embeddings = data.setdefault("embeddings", None)
    data.setdefault("condition_embeddings", None)
    data.setdefault("embedding_params", None)
    if embeddings is not None and (
            not isinstance(data["condition_embeddings"], dict)
            or any(np.shape(x) != (n, embedding.N_EMBEDDING)
                   for x in [embeddings, *data["condition_embeddings"].values()])):
        raise FeaturesError(f"{path}: its speech embeddings are not one row of {embedding.N_EMBEDDING} per file; "
                            "re-run `python create_features.py`")
    data["features"] = features
    return data


def functionals_match(data, arrays, rows):
    """Whether ``arrays``, functionals read from a stored features dict ``data``, were made with
    audio.py's settings (``data``'s "functionals_params") and are each (rows, N_FUNCTIONALS)."""
    return data.get("functionals_params") == audio.functionals_params() and all(
        np.shape(x) == (rows, audio.N_FUNCTIONALS) for x in arrays)


def load_companion(features_path, name, base):
    """Read augmented.joblib or robustness.joblib beside a features file; None when absent.

    Checks that it was made from the same files with the same front end as ``base`` (the dict
    load_features returned). Returns {"augmented": list, "source": (n,) int, "functionals": (n,
    N_FUNCTIONALS) float32, or None in a file made before they were stored} for the augmented copies,
    or {condition: list of arrays aligned with base} for the robustness conditions.
    """
    import joblib

    path = Path(features_path).parent / name
    if not path.is_file():
        return None
    try:
        data = joblib.load(path)
        if data["path"] != base["path"] or data["frontend"] != audio.frontend_params():
            raise FeaturesError(f"{path}: made from other files or settings than {features_path}; "
                                "re-run `python create_features.py`")
        if name == AUGMENTED_NAME:
            functionals = data.get("functionals")  # None in a file made before they were stored
            if functionals is not None and not functionals_match(data, [functionals], len(data["source"])):
                raise FeaturesError(f"{path}: its functionals are made with other settings than audio.py's; "
                                    "re-run `python create_features.py`")
            return {"augmented": unpack(data["frames"], data["offsets"]), "source": data["source"],
                    "functionals": functionals}
        return {c: unpack(*data["conditions"][c]) for c in data["conditions"]}
    except FeaturesError:
        raise
    except Exception as err:  # a damaged pickle raises many types; all mean the same here
        raise FeaturesError(f"{path}: corrupted features file ({err.__class__.__name__}); "
                            "re-run `python create_features.py`") from None


def build_features(dataset, n_jobs=N_JOBS, progress=True, n_augment=0, conditions=(),
                   scheduler=SCHEDULER, scheduler_timeout=SCHEDULER_TIMEOUT, embed_dir=None):
    """Scan ``dataset`` and featurize every corpus file (on Dask at ``scheduler`` if given), with
    each file's speech embedding when ``embed_dir`` names the networks' folder.

    Returns (features dict, augmented dict or None, robustness dict or None), ready to save.
    Raises embedding.EmbeddingError, before any file is read, when ``embed_dir`` lacks a network.
    """
    embed_params = None if embed_dir is None else embedding.params(embed_dir)
    if embed_dir is not None:
        embedding.Embedder(embed_dir)  # a damaged network is named here, not in every worker
    utterances, skipped = corpus.scan(dataset)
    results = featurize_all([u.path for u in utterances], [u.relpath for u in utterances],
                            n_jobs=n_jobs, progress=progress, n_augment=n_augment,
                            conditions=conditions, scheduler=scheduler,
                            scheduler_timeout=scheduler_timeout, embed_dir=embed_dir)
    kept = []
    for u, (feats, reason) in zip(utterances, results):
        if reason is None:
            kept.append((u, feats))
        else:
            skipped.append((u.relpath, reason))
    frames, offsets = pack([f["base"] for _, f in kept])
    data = {
        "frames": frames,
        "offsets": offsets,
        "prosody": np.array([f["prosody"] for _, f in kept], dtype=np.float32).reshape(-1, audio.N_PROSODY),
        "condition_prosody": {c: np.array([f["condition_prosody"][c] for _, f in kept],
                                          dtype=np.float32).reshape(-1, audio.N_PROSODY)
                              for c in conditions},
        "functionals": np.array([f["functionals"] for _, f in kept],
                                dtype=np.float32).reshape(-1, audio.N_FUNCTIONALS),
        "condition_functionals": {c: np.array([f["condition_functionals"][c] for _, f in kept],
                                              dtype=np.float32).reshape(-1, audio.N_FUNCTIONALS)
                                  for c in conditions},
        "embeddings": None if embed_dir is None else np.array(
            [f["embedding"] for _, f in kept], dtype=np.float32).reshape(-1, embedding.N_EMBEDDING),
        "condition_embeddings": None if embed_dir is None else {
            c: np.array([f["condition_embeddings"][c] for _, f in kept],
                        dtype=np.float32).reshape(-1, embedding.N_EMBEDDING) for c in conditions},
        "embedding_params": embed_params,
        "labels": np.array([u.label for u, _ in kept], dtype=np.int64),
        "emotions": list(corpus.EMOTIONS),
        "frontend": audio.frontend_params(),
        "functionals_params": audio.functionals_params(),
        "skipped": sorted(skipped),
        "dataset": str(dataset),
    }
    for field in META_FIELDS:
        data[field] = [u.relpath if field == "path" else getattr(u, field) for u, _ in kept]
    # Copies and conditions are stored as float16 (half the disk and memory); the plain features,
    # which must equal the prediction path's, stay float32.
    common = {"path": data["path"], "frontend": data["frontend"]}

    def pack16(arrays):
        frames, offsets = pack(arrays)
        return frames.astype(np.float16), offsets

    augmented = robustness = None
    if n_augment:
        frames, offsets = pack16([a for _, f in kept for a in f["augmented"]])
        augmented = {**common, "frames": frames, "offsets": offsets,
                     "source": np.repeat(np.arange(len(kept)), n_augment),
                     "copy": np.tile(np.arange(n_augment), len(kept)),
                     "functionals": np.array([x for _, f in kept for x in f["augmented_functionals"]],
                                             dtype=np.float32).reshape(-1, audio.N_FUNCTIONALS),
                     "functionals_params": data["functionals_params"]}
    if conditions:
        robustness = {**common, "conditions": {c: pack16([f["conditions"][c] for _, f in kept])
                                               for c in conditions}}
    return data, augmented, robustness


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET_DIR, help="folder with the corpora")
    parser.add_argument("--out", type=Path, default=FEATURES_FILE, help="features file to write")
    parser.add_argument("--jobs", type=int, default=N_JOBS, help="worker processes")
    parser.add_argument("--augment", type=int, default=AUGMENT_COPIES,
                        help="random training copies per file (0: none)")
    parser.add_argument("--no-robustness", action="store_true",
                        help="skip the robustness conditions")
    parser.add_argument("--embedding", action=argparse.BooleanOptionalAction, default=EMBEDDING,
                        help="store every file's speech embedding (embedding.py; the fourth voice trains on "
                             "them); --no-embedding skips it")
    parser.add_argument("--embedding-dir", type=Path, default=embedding.NETWORK_DIR,
                        help="folder of the speech embedding's networks (`python embedding.py` fetches them)")
    parser.add_argument("--scheduler", default=SCHEDULER,
                        help="Dask scheduler address (tcp://host:port) to featurize on a cluster")
    parser.add_argument("--scheduler-timeout", type=float, default=SCHEDULER_TIMEOUT,
                        help="seconds to wait for the Dask scheduler")
    args = parser.parse_args(argv)
    if args.augment < 0:
        parser.error("--augment must be 0 or more")

    start = time.perf_counter()
    conditions = () if args.no_robustness else augment.CONDITIONS
    try:
        data, augmented, robustness = build_features(
            args.dataset, n_jobs=args.jobs, n_augment=args.augment, conditions=conditions,
            scheduler=args.scheduler, scheduler_timeout=args.scheduler_timeout,
            embed_dir=args.embedding_dir if args.embedding else None)
    except embedding.EmbeddingError as err:
        print(f"error: {err}, or featurize without it (--no-embedding)", file=sys.stderr)
        return 1
    except (corpus.CorpusError, FeaturesError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    n_kept, skipped = len(data["labels"]), data["skipped"]
    for relpath, reason in skipped:
        print(f"skipped {relpath}: {reason}")
    if n_kept == 0:
        print(f"error: {args.dataset}: no usable corpus file found; run `python download_data.py`",
              file=sys.stderr)
        return 1
    save_features(data, args.out)
    written = [args.out]
    for name, extra in ((AUGMENTED_NAME, augmented), (ROBUSTNESS_NAME, robustness)):
        if extra is not None:
            save_features(extra, args.out.parent / name)
            written.append(args.out.parent / name)
    per_corpus = {c: data["corpus"].count(c) for c in sorted(set(data["corpus"]))}
    print(f"read {n_kept + len(skipped)} files: featurized {n_kept} "
          f"({', '.join(f'{c} {n}' for c, n in per_corpus.items())}), skipped {len(skipped)}; "
          f"wrote {', '.join(map(str, written))} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
