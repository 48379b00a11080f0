"""Measured: Google's speech embedding (as openWakeWord's wheel carries it) as another voice in the blend.

    .venv/bin/pip download --no-deps openwakeword==0.5.1 -d joblib_features   # its models, once (17 MB)
    python experiments/speech_embedding.py --predictions media/predictions_b.csv   # 4 min here the first time
    python experiments/speech_embedding.py --conditions --choose-on both \
        --predictions media/predictions_b.csv runs/prod48.csv runs/prod49.csv runs/prod50.csv runs/prod51.csv
                                          # the verdict's five seeds (their product runs), under every condition

Only PyPI is reachable from our machines, and the pretrained speech models that emotion work
builds on (wav2vec 2.0, HuBERT, WavLM, TRILL) are not on it. openWakeWord's wheel (Apache 2.0)
carries one model trained on far more voices than ours: Google's speech embedding (TF Hub
``speech_embedding``, Apache 2.0), trained on keyword spotting over a large speech corpus, as two
TensorFlow Lite files (its log-mel front end and the embedding network). This reads both from the
wheel, checked by its SHA-256, and runs them with TensorFlow's own Lite interpreter; the wheel's
code is neither installed nor imported.

1. Embeddings: each file of the features file, loaded and silence-trimmed by our front end
   (audio.load_audio, audio.trim_silence), brought to TARGET_DBFS, padded to MIN_SECONDS, as 16-bit
   samples into the model's front end (its 32 mel bands every 10 ms, scaled as openWakeWord scales
   them: x / 10 + 2), then every WINDOW_FRAMES frames, every STEP_FRAMES, into the embedding
   network: 96 numbers per window. A clip is the mean, standard deviation and maximum of its
   windows: 288 numbers. Kept in EMBEDDING_NAME beside the features file, with what they were made
   from; making them prints their time per clip.
2. Probabilities: for each protocol (b) fold, a logistic regression on every other fold's files,
   its C the one of C_GRID that scores best on the RAVDESS actors of the other folds
   (own_functionals.classified). Kept in PARTNER_NAME.
3. Blend: as compare_partner.py, into every predictions CSV given, each fold's w chosen on the
   other folds' RAVDESS actors (``--choose-on both``: both corpora's voices).
It prints, before any emotion, how well the embeddings tell the RAVDESS actors apart
(voice_encoder.speaker_check), then the classifier alone, and each CSV alone and blended.

``--augmented`` trains each fold's classifier on its files' augmented copies too (as the product's
third voice trains, at the C chosen on the clean files): each file's copies made again as
create_features.py makes them (augment.augment, seeded by the file's path and the copy's number),
embedded and kept in COPIES_NAME; the copies' classifier is then the one blended.

``--conditions`` also embeds every file under each robustness condition (augment.apply_condition,
seeded as create_features.py seeds it; kept in CONDITIONS_NAME), has each fold's classifier predict
them, blends them into each CSV's rows of that condition at the fold's w chosen on the clean clips,
and prints each condition's accuracy alone and blended; ``--out`` then writes every condition.

Plan (2026-12-06, twenty-fifth session), committed before seeds 48 to 51 were scored:
experiments/README.md, "Plan: Google's speech embedding as a fourth voice".

Verdict (2026-12-06): it passes its bar; built into the product in the twenty-sixth session
(embedding.py runs the wheel's ONNX copies, which agree with these Lite ones to about 2e-4;
neural_network.py FOURTH_VOICE; experiments/README.md, "the speech embedding built into the product"). Blended into the five kept seeds'
product runs by both corpora's voices (``--choose-on both``): +0.56 points overall on the mean
(gained on all five), the unseen actors +2.08, the TESS voices -0.23, ECE lower on every seed
(experiments/README.md, "Google's speech embedding as a fourth voice passes its bar"); through a
telephone band +2.0, with 10 dB of noise -1.4. Trained on the copies too (``--augmented``) it gains
+0.03 on clean clips and +0.31 with 10 dB of noise, so the clean-trained voice stays the plan
("the fourth voice trained on the copies too stays out of the plan").
"""

import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import audio  # noqa: E402
import augment  # noqa: E402
import model as model_lib  # noqa: E402
from create_features import AUGMENT_COPIES, DATASET_DIR  # noqa: E402
from experiments.compare_partner import (blend_parser, blend_runs, cached, describe, file_rows,  # noqa: E402
                                         parse_blend_args, read_cached, read_conditions, read_runs,
                                         write_blended)
from experiments.own_functionals import classified  # noqa: E402
from experiments.voice_encoder import speaker_check, timed_rows  # noqa: E402
from neural_network import (CLEAN, FOURTH_VOICE_C_GRID, fold_probs, speaker_folds,  # noqa: E402
                            third_voice_classifier, third_voice_folds)
# openWakeWord's wheel and the windowing and levelling settings are the product's (embedding.py).
from embedding import (EMBEDDING_SIZE, MEL_BANDS, MIN_SECONDS, REQUIREMENT, STEP_FRAMES,  # noqa: E402
                       TARGET_DBFS, WHEEL_NAME, WHEEL_SHA256, WINDOW_FRAMES, wheel_members)

import numpy as np  # noqa: E402

# The two model files inside the wheel: TensorFlow Lite copies of the networks embedding.py runs.
MEL_MEMBER = "openwakeword/resources/models/melspectrogram.tflite"
EMBEDDING_MEMBER = "openwakeword/resources/models/embedding_model.tflite"
# Where the embeddings and the classifier's probabilities and C are kept, beside the features file.
EMBEDDING_NAME = "speech_embedding.joblib"
PARTNER_NAME = "speech_embedding_probabilities.joblib"
CONDITIONS_NAME = "speech_embedding_conditions.joblib"
COPIES_NAME = "speech_embedding_copies.joblib"
# The penalties C tried for the classifier, each fold choosing its own on other speakers: the
# product's fourth voice's.
C_GRID = FOURTH_VOICE_C_GRID


def read_models(wheel):
    """(front end, embedding network): the two models' bytes (TensorFlow Lite flatbuffers) read
    from ``wheel``. Raises ValueError naming the wheel when it is missing or not the one of
    WHEEL_SHA256 (embedding.wheel_members)."""
    return tuple(wheel_members(wheel, REQUIREMENT, WHEEL_SHA256, [MEL_MEMBER, EMBEDDING_MEMBER]))


class Embedder:
    """Both models in TensorFlow Lite interpreters; ``embed(y)`` gives a clip's 288 numbers."""

    def __init__(self, models):
        import tensorflow as tf

        self.mel, self.network = (tf.lite.Interpreter(model_content=m) for m in models)

    @staticmethod
    def _run(interpreter, x):
        """The model's output for ``x``, its input resized to x's shape first."""
        entry = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(entry["index"], list(x.shape), strict=True)
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    def windows(self, y):
        """(W, EMBEDDING_SIZE) float32: the embedding of every window of y (n_samples,), mono
        SAMPLE_RATE audio, trimmed as audio.features trims it and brought to TARGET_DBFS."""
        y = audio.trim_silence(np.ascontiguousarray(y, dtype=np.float32)).astype(np.float64)
        rms = np.sqrt(np.mean(y ** 2)) if len(y) else 0.0
        y = y * (10.0 ** (TARGET_DBFS / 20.0) / max(rms, 1e-9))
        y = np.pad(y, (0, max(0, int(MIN_SECONDS * audio.SAMPLE_RATE) - len(y))))
        samples = np.round(np.clip(y * 32768.0, -32768, 32767)).astype(np.float32)[None]
        bands = self._run(self.mel, samples).reshape(-1, MEL_BANDS) / 10.0 + 2.0  # (T, MEL_BANDS)
        starts = range(0, len(bands) - WINDOW_FRAMES + 1, STEP_FRAMES)
        batch = np.stack([bands[s:s + WINDOW_FRAMES] for s in starts])[..., None].astype(np.float32)
        return self._run(self.network, batch).reshape(len(batch), EMBEDDING_SIZE)

    def embed(self, y):
        """(3 * EMBEDDING_SIZE,) float32: the mean, standard deviation and maximum of ``windows(y)``."""
        w = self.windows(y)
        return np.concatenate([w.mean(axis=0), w.std(axis=0), w.max(axis=0)]).astype(np.float32)


def embedding_features(paths, embedder, *, root=DATASET_DIR, log=print):
    """(n, 3 * EMBEDDING_SIZE) float32: ``embedder.embed`` of each file of ``paths`` (relative to
    ``root``; voice_encoder.timed_rows). Raises audio.AudioError naming a file that cannot be read."""
    return timed_rows(paths, embedder.embed, "speech embedding", root=root, log=log)


def condition_features(paths, embedder, conditions, *, root=DATASET_DIR, log=print):
    """{condition: (n, 3 * EMBEDDING_SIZE) float32}: ``embedder.embed`` of each file of ``paths``
    under each of ``conditions`` (augment.apply_condition, seeded by the file's path as
    create_features.py seeds it). Raises audio.AudioError naming a file that cannot be read."""
    rows = {c: [] for c in conditions}
    for i, path in enumerate(paths):
        y = audio.load_audio(Path(root) / path)
        for c in conditions:
            rows[c].append(embedder.embed(augment.apply_condition(y, c, augment.seed_for(path, -1))))
        if (i + 1) % 500 == 0:
            log(f"  speech embedding under {len(conditions)} conditions: {i + 1} of {len(paths)} files")
    return {c: np.array(r, dtype=np.float32).reshape(len(paths), 3 * EMBEDDING_SIZE) for c, r in rows.items()}


def copy_features(paths, embedder, copies, *, root=DATASET_DIR, log=print):
    """(n * copies, 3 * EMBEDDING_SIZE) float32: ``embedder.embed`` of each file's augmented copies
    0 to copies - 1, file by file (row i * copies + c is file i's copy c), each made as
    create_features.featurize makes it (augment.augment, seeded by the file's path and c)."""
    rows = []
    for i, path in enumerate(paths):
        y = audio.load_audio(Path(root) / path)
        rows += [embedder.embed(augment.augment(y, np.random.default_rng(augment.seed_for(path, c))))
                 for c in range(copies)]
        if (i + 1) % 500 == 0:
            log(f"  speech embedding of {copies} copies each: {i + 1} of {len(paths)} files")
    return np.array(rows, dtype=np.float32).reshape(len(paths) * copies, 3 * EMBEDDING_SIZE)


def copies_folds(x, copies, labels, folds, c):
    """{fold k: a third_voice_classifier at C c[k] trained on every other fold's rows of ``x`` (n, d)
    and their copies' rows of ``copies`` (n * m, d), copy_features' order}."""
    m = len(copies) // len(x)
    source = np.repeat(np.arange(len(x)), m)
    trained = {}
    for k in (int(k) for k in np.unique(folds)):
        files = np.flatnonzero(folds != k)
        rows = np.concatenate([x[files], copies[np.isin(source, files)]])
        targets = np.concatenate([labels[files], labels[source[np.isin(source, files)]]])
        trained[k] = third_voice_classifier(c[k]).fit(rows, targets)
    return trained


def blend_conditions(paths, model, partner, weights, data, *, outs=()):
    """Blend ``partner`` ({condition: (n, k) probabilities in the features file's order}) into each
    predictions CSV of ``paths``: each condition's ``model`` rows, each fold k at weights[n][k] (the
    run's w, chosen on its clean clips by blend_runs); print each condition's accuracy alone and
    blended, and write every condition of the blended run to ``outs`` when given."""
    labels, folds = np.asarray(data["labels"]), speaker_folds(data)
    for n, path in enumerate(paths):
        run = read_conditions(path, model, data)
        every_row, every_prob = [], []
        for condition, (rows, probs) in run.items():
            if condition not in partner:  # said, and left out of the blended run
                print(f"{path}: under {condition}: no speech embeddings of that condition; left out")
                continue
            blended = np.zeros_like(probs)
            for k, w in weights[n].items():
                blended[folds == k] = model_lib.blend(probs[folds == k], partner[condition][folds == k], w)
            every_row += rows
            every_prob.append(blended)
            print(f"{path}: under {condition}: alone {np.mean(probs.argmax(1) == labels):.3f}, "
                  f"blended {np.mean(blended.argmax(1) == labels):.3f}")
        if outs:
            write_blended(outs[n], every_row, np.concatenate(every_prob))
            print(f"wrote {outs[n]} (every condition)")


def embedded(cache, key, make, what):
    """compare_partner.cached(cache, key, make), or exit with a one-line error when a corpus file is
    gone since the features were made."""
    try:
        return cached(cache, key, make, what=what)
    except audio.AudioError as err:
        sys.exit(f"error: {err}; --dataset names the corpora's folder the features were made from")


def made_from(paths):
    """What the embeddings of ``paths`` depend on besides the audio: the files, the front end's
    settings, the wheel and the source of this script's embedding code."""
    code = inspect.getsource(Embedder)
    settings = repr((WHEEL_SHA256, WINDOW_FRAMES, STEP_FRAMES, MIN_SECONDS, TARGET_DBFS, MEL_BANDS))
    return {"paths": list(paths), "frontend": audio.frontend_params(), "code": code + settings}


def main(argv=None):
    parser = blend_parser(__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path,
                        help=f"openWakeWord's wheel (default: {WHEEL_NAME} beside the features file)")
    parser.add_argument("--augmented", action="store_true",
                        help="train each fold's classifier on its files' augmented copies too")
    parser.add_argument("--conditions", action="store_true",
                        help="also embed every file under each robustness condition and blend those rows too")
    args = parse_blend_args(parser, argv)
    try:
        models = read_models(args.wheel or args.features.parent / WHEEL_NAME)
    except ValueError as err:
        sys.exit(f"error: {err}")
    data, runs = read_runs(args.predictions, args.model, args.features)
    folder = args.features.parent
    x = embedded(folder / EMBEDDING_NAME, made_from(data["path"]),
                 lambda: embedding_features(data["path"], Embedder(models), root=args.dataset), "speech embeddings")
    actors = len({s for c, s in zip(data["corpus"], data["speaker"]) if c == "RAVDESS"})
    print(f"the embeddings tell the {actors} RAVDESS actors apart {speaker_check(x, data):.3f} of the time "
          f"(nearest actor's mean embedding; chance {1 / max(actors, 1):.3f})")
    labels = np.asarray(data["labels"])
    choosers = np.asarray(data["corpus"]) == "RAVDESS"
    key = {**made_from(data["path"]), "c_grid": C_GRID, "labels": labels.tolist()}
    folds = speaker_folds(data)
    partner = classified(x, labels, folds, choosers, folder / PARTNER_NAME, key, grid=C_GRID)
    print(f"the speech embedding's classifier alone: {describe(partner, labels, file_rows(data, 'embedding'))}")
    c = read_cached(folder / PARTNER_NAME, key)["c"]
    if args.augmented:
        copies = embedded(folder / COPIES_NAME, {**made_from(data["path"]), "copies": AUGMENT_COPIES,
                                                 "augment": inspect.getsource(augment)},
                          lambda: copy_features(data["path"], Embedder(models), AUGMENT_COPIES, root=args.dataset),
                          "speech embeddings of the augmented copies")
        classifiers = copies_folds(x, copies, labels, folds, c)
        partner = fold_probs(classifiers, x, folds)
        print(f"the classifier trained on the copies too, alone: "
              f"{describe(partner, labels, file_rows(data, 'embedding'))}")
    elif args.conditions:  # the classifiers behind ``partner``, to predict the conditions with
        classifiers = third_voice_folds(x, labels, folds, c)
    weights = blend_runs(args.predictions, runs, partner, data, outs=() if args.conditions else args.out,
                         choose_on=args.choose_on)
    if args.conditions:
        under = embedded(folder / CONDITIONS_NAME, {**made_from(data["path"]), "conditions": list(augment.CONDITIONS)},
                         lambda: condition_features(data["path"], Embedder(models), augment.CONDITIONS,
                                                    root=args.dataset),
                         "speech embeddings under the robustness conditions")
        probs = {CLEAN: partner, **{condition: fold_probs(classifiers, u, folds) for condition, u in under.items()}}
        blend_conditions(args.predictions, args.model, probs, weights, data, outs=args.out)


if __name__ == "__main__":
    main()
