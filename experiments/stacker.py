"""Measured: the four voices stacked, in place of the product's blends at fixed weights.

    python experiments/stacker.py --fold-cache runs/cache42              # seed 42 from kept folds: 34 min beside tests, when each pair of folds was fitted twice
    python experiments/stacker.py --fold-cache runs/cache48 --seed 48

The product joins four voices, each fold's: the network with its test-time views, the partner
(MFCC means and prosody), the third voice (functionals) and the fourth (speech embedding), by
three geometric blends in turn (model.blend), each at one weight chosen from a grid by accuracy.
Every emotion gets the same weight from a voice. This runs the product's protocol (b) from
``--fold-cache`` (neural_network.evaluate; kept folds are read back, missing ones trained), keeps
each voice's probabilities of every test file, and joins them again in three arms, each fold's
fitted on the other folds' test files only (each file there predicted by voices that never heard
its speaker; each corpus counting the same, as the third voice's weight is chosen):

- "joint weights": score(emotion) = sum over voices of w_v * log p_v(emotion), then softmax; the
  four w fitted together by log-loss (``fit_joint``);
- "joint weights and biases": the same plus a bias per emotion;
- "stacker": a multinomial logistic regression on the 32 log-probabilities, its C chosen among
  STACKER_C_GRID by the other folds in turn (``choose_stacker_c``).

It prints the product's line (which must be the README run's (b) number for the seed) and each
arm's: (b) overall, per corpus, the RAVDESS women and men, ECE, log-loss, happy's recall, files
right, and each fold's fitted weights. Clean clips only: under the robustness conditions the
runs keep the blend, not the network alone.

Plan (2026-12-06, twenty-ninth session), committed before any number was scored:
experiments/README.md, "Plan: the voices stacked".

Verdict (2026-12-06): not shipped, and not tried again. On seed 42's folds (the product 0.705) the
joint weights gave 0.700, with biases 0.683, the stacker 0.572; the pilot's bar was +1.0
(experiments/README.md, "Measured: the voices stacked fail the pilot").
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import corpus  # noqa: E402
import neural_network as nn  # noqa: E402
from modulation_voice import summary  # noqa: E402
from partner_weight import bad_input_exits, fold_cache_parser, kept_run  # noqa: E402

import numpy as np  # noqa: E402

# Each voice, and the key under which a protocol (b) run of the product keeps its probabilities alone.
VOICES = {"network": "unblended", "partner": "mfcc_alone", "third voice": "third_voice_alone",
          "fourth voice": "fourth_voice_alone"}
# The stacker's L2 penalties (scikit-learn's C: smaller is stronger) each fold chooses among.
STACKER_C_GRID = (0.01, 0.1, 1.0)
# Probabilities are floored here before their logarithm (a voice's 0 would be minus infinity).
FLOOR = 1e-6


def product_runs(data, cache, log=print):
    """Run the product's protocol (b) from ``cache`` and return (its result for "b", each fold's run
    as it stands after the fourth voice: its "probs" the product's, and each voice's alone under
    the keys of VOICES)."""
    kept = {}
    original = nn.last_voice

    def keeping(key, p, *args):
        runs, chosen = original(key, p, *args)
        if p == "b" and key == "fourth_voice":
            kept["runs"] = runs
        return runs, chosen

    nn.last_voice = keeping
    try:
        result = nn.evaluate("cnn", data, ["b"], log=log, cache=cache)["b"]
    finally:
        nn.last_voice = original
    return result, kept["runs"]


def log_voices(runs):
    """(files, voices, emotions) log-probabilities of every voice, the runs' test files in order."""
    return np.stack([np.log(np.clip(np.concatenate([run[key] for run in runs]), FLOOR, 1.0))
                     for key in VOICES.values()], axis=1)


def corpus_weights(corpora):
    """(n,) sample weights, summing to n, under which each corpus of ``corpora`` counts the same."""
    corpora = np.asarray(corpora)
    names, counts = np.unique(corpora, return_counts=True)
    per = dict(zip(names, len(corpora) / (len(names) * counts)))
    return np.array([per[c] for c in corpora])


def softmax(z):
    """Each row of ``z`` (n, k) as probabilities."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_joint(logs, labels, weights, *, biases):
    """The voices' weights (and, with ``biases``, a bias per emotion) that minimise the weighted
    log-loss of softmax(sum_v w_v log p_v + b) on ``logs`` (n, voices, emotions). Starts from every
    weight 1 / voices. Returns (w (voices,), b (emotions,))."""
    from scipy.optimize import minimize

    n, v, k = logs.shape
    onehot = np.eye(k)[labels]
    total = weights.sum()

    def loss(theta):
        w, b = theta[:v], (theta[v:] if biases else np.zeros(k))
        p = softmax(np.einsum("nvk,v->nk", logs, w) + b)
        value = -np.sum(weights * np.log(np.maximum(p[np.arange(n), labels], 1e-300))) / total
        dz = weights[:, None] * (p - onehot) / total
        grad = np.einsum("nk,nvk->v", dz, logs)
        return value, (np.concatenate([grad, dz.sum(axis=0)]) if biases else grad)

    start = np.full(v + (k if biases else 0), 0.0)
    start[:v] = 1.0 / v
    theta = minimize(loss, start, jac=True, method="L-BFGS-B").x
    return theta[:v], (theta[v:] if biases else np.zeros(k))


def joint_probs(logs, w, b):
    """softmax(sum_v w_v log p_v + b): (n, emotions) probabilities of ``logs`` (n, voices, emotions)."""
    return softmax(np.einsum("nvk,v->nk", logs, w) + b)


def stacker(c):
    """The stacker arm's classifier, at L2 penalty ``c``."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000)


def balanced_accuracy_of_corpora(preds, labels, corpora):
    """The mean over corpora of each corpus's accuracy."""
    corpora = np.asarray(corpora)
    return float(np.mean([np.mean(preds[corpora == c] == labels[corpora == c]) for c in np.unique(corpora)]))


def pair_predictions(x, labels, folds, weights):
    """{(k, j, C): the predictions for fold j's rows of a stacker at C trained on the folds other
    than k and j}, for every ordered pair of folds and C of STACKER_C_GRID. One stacker per
    unordered pair and C serves both orders (its training rows are the same)."""
    out = {}
    ks = [int(k) for k in np.unique(folds)]
    for a in ks:
        for b in (b for b in ks if b > a):
            train = (folds != a) & (folds != b)
            for c in STACKER_C_GRID:
                fitted = stacker(c).fit(x[train], labels[train], sample_weight=weights[train])
                out[(a, b, c)], out[(b, a, c)] = fitted.predict(x[folds == b]), fitted.predict(x[folds == a])
    return out


def choose_stacker_c(pairs, labels, folds, corpora, k):
    """For fold k: the C of STACKER_C_GRID whose stackers, each trained on the folds other than k
    and j (``pairs``, pair_predictions'), are right most often on the folds j other than k pooled
    (each corpus counting the same; the smaller C on a tie). Nothing of fold k is read."""
    rows = folds != k
    score = {}
    for c in STACKER_C_GRID:
        preds = np.zeros(len(labels), dtype=int)
        for j in (int(j) for j in np.unique(folds) if j != k):
            preds[folds == j] = pairs[(int(k), j, c)]
        score[c] = balanced_accuracy_of_corpora(preds[rows], labels[rows], np.asarray(corpora)[rows])
    return max(STACKER_C_GRID, key=lambda c: (score[c], -c)), score


def arms(logs, labels, folds, corpora, log=print):
    """{arm: (files, emotions) probabilities}, each fold's fitted on the other folds' files."""
    weights = corpus_weights(corpora)
    x = logs.reshape(len(logs), -1)
    out = {name: np.zeros(logs.shape[::2]) for name in ("joint weights", "joint weights and biases", "stacker")}
    pairs = pair_predictions(x, labels, folds, weights)
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        for name, biases in (("joint weights", False), ("joint weights and biases", True)):
            w, b = fit_joint(logs[train], labels[train], weights[train], biases=biases)
            out[name][test] = joint_probs(logs[test], w, b)
            log(f"  fold {k}, {name}: w " + ", ".join(f"{v} {a:.2f}" for v, a in zip(VOICES, w))
                + ("; b " + " ".join(f"{a:+.2f}" for a in b) if biases else ""))
        c, score = choose_stacker_c(pairs, labels, folds, corpora, k)
        out["stacker"][test] = stacker(c).fit(x[train], labels[train], sample_weight=weights[train]).predict_proba(
            x[test])
        log(f"  fold {k}, stacker: C {c:g} (the other folds, each corpus the same: "
            + ", ".join(f"{c:g} {a:.3f}" for c, a in score.items()) + ")")
    return out


def line(name, probs, labels, rows):
    """One printed line: an arm's (b) numbers (summary), happy's recall and the files it gets right."""
    preds = probs.argmax(axis=1)
    happy = corpus.EMOTIONS.index("happy")
    return (f"{name}: (b) {summary(probs, labels, rows)}; happy recall "
            f"{np.mean(preds[labels == happy] == happy):.3f}; right {int(np.sum(preds == labels))} of {len(labels)}")


def main(argv=None):
    args = fold_cache_parser(__doc__.split("\n")[0]).parse_args(argv)
    nn.SEED = args.seed
    with bad_input_exits():
        data = nn.load_data(args.features)
        _, runs = product_runs(data, kept_run(args.fold_cache))
    idx = np.concatenate([run["test"] for run in runs])
    labels = np.asarray(data["labels"])[idx]
    corpora = np.asarray(data["corpus"])[idx]
    folds = nn.speaker_folds(data)[idx]
    rows = [dict(corpus=c, speaker=s, path=p) for c, s, p in zip(
        corpora, np.asarray(data["speaker"])[idx], np.asarray(data["path"])[idx])]
    product = np.concatenate([run["probs"] for run in runs])
    print(line(f"seed {args.seed}, the product", product, labels, rows))
    for name, key in VOICES.items():
        print(line(f"{name} alone", np.concatenate([run[key] for run in runs]), labels, rows))
    logs = log_voices(runs)
    for name, probs in arms(logs, labels, folds, corpora).items():
        print(line(name, probs, labels, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
