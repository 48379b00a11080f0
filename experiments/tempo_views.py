"""Measured: ours also averaging each clip's views played faster and slower (test-time tempo views).

    python experiments/tempo_views.py --run runs/cache42:42                     # one seed, about 8 min
    python experiments/tempo_views.py --run runs/cache42:42 --run runs/cache48:48 --run runs/cache49:49 \
        --run runs/cache50:50 --run runs/cache51:51                             # the plan's five seeds

Ours predicts each clip as the mean of its views (model.clip_views): the clip and its copies with
white noise 20 and 10 dB below its speech power, each also warped by 0.9 and 1.1 along the
frequency axis (model.TEST_TIME_WARPS), when the held-out actors choose the warps. The warps gained
when they came (experiments/README.md, "test-time warps"); they play at test time what the
training's vocal-tract warp played in training. Training also stretches every example's frames in
time (model.TRAIN_STRETCH, 0.85 to 1.15), and no view plays that. This adds, to whatever views the
product makes of a clip, the clip and its noisy copies (the unwarped views) each stretched by every
factor of TEMPOS (model.stretch_frames): 6 more views, 15 in all where the warps are chosen.

For each ``--run CACHE:SEED`` it runs the product's protocol (b) from the fold cache twice
(partner_weight.product_folds, through voice_views.seed_runs: kept folds read back, none trained
when the cache holds all 8), once as the product predicts and once with the tempo views
(``with_tempo_views``); in both, each fold chooses its test-time noise and warps on its held-out
actors as the product does, now with the tempo views in both of the warps' arms. Both runs are
blended as the product blends (partner_seeds.arms: the partner at the weights the product chooses,
the third voice last, its weight chosen again on the blend). It prints, per seed, ours alone and
both arms (overall, per corpus, RAVDESS women and men, happy's recall, ECE, log-loss), each arm's
accuracy under each robustness condition, and at the end the tempo views' gain over the product on
the mean of the seeds given and on how many of them they gained.

Plan (2026-12-06, twenty-fifth session), committed before any number: experiments/README.md,
"Plan: test-time tempo views".

Verdict (2026-12-06): not shipped. On the five seeds' mean the tempo views lost 0.25 points
(-0.14, +0.40, -0.54, -0.19, -0.78; gained on one seed of five), against a bar of +0.5 and a gain
on four seeds; ECE fell on every seed (experiments/README.md, "the tempo views fail their bar").
"""

import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import model as model_lib  # noqa: E402
from neural_network import CLEAN  # noqa: E402
from partner_seeds import PRODUCT, arms  # noqa: E402
from voice_views import data_or_exit, print_gains, runs_parser, score_arms, seed_runs  # noqa: E402

import numpy as np  # noqa: E402

# The tempo factors of the added views: each unwarped view played this many times faster
# (model.stretch_frames), inside the training's stretch (model.TRAIN_STRETCH).
TEMPOS = (0.9, 1.1)
# The arm's name in what the script prints.
TEMPO = "tempo views"


def tempo_views(views, warps, *, warped_views=None):
    """What model.warped_views gives for ``views`` (a list of (n, N_MELS) log-mel matrices) and
    ``warps``, followed by each of ``views`` stretched by every factor of TEMPOS: a list of
    len(views) * (1 + len(warps) + len(TEMPOS)) matrices. warped_views: the function to extend
    (model.warped_views when None)."""
    warped = (warped_views or model_lib.warped_views)(views, warps)
    return warped + [model_lib.stretch_frames(v, t) for v in views for t in TEMPOS]


@contextmanager
def with_tempo_views():
    """Within it, every prediction of ours (neural_network.view_probs, model.clip_views) also
    averages the tempo views (``tempo_views``): model.warped_views is replaced, and restored after."""
    original = model_lib.warped_views
    model_lib.warped_views = lambda views, warps: tempo_views(views, warps, warped_views=original)
    try:
        yield
    finally:
        model_lib.warped_views = original


def main(argv=None):
    args = runs_parser(__doc__.split("\n")[0]).parse_args(argv)
    data = data_or_exit(args.features)
    numbers = []
    for cache, seed in args.run:
        (_, runs, partners, trained), = seed_runs(data, [(cache, seed)])
        with with_tempo_views():
            (_, tempo_runs, tempo_partners, _), = seed_runs(data, [(cache, seed)])
        idx, product = arms(data, runs, partners, None, trained)
        tempo_idx, tempo = arms(data, tempo_runs, tempo_partners, None, trained)
        if not np.array_equal(idx, tempo_idx):  # the same folds from the same cache
            sys.exit(f"error: {cache}: the two runs tested other files")
        out = {PRODUCT: product[PRODUCT], TEMPO: tempo[PRODUCT]}
        numbers.append(score_arms(seed, data, idx, runs, {arm: (w, p[CLEAN]) for arm, (w, p) in out.items()}))
        labels = np.asarray(data["labels"])[idx]
        for arm, (_, probs) in out.items():
            print(f"seed {seed}, {arm}: under " + ", ".join(
                f"{c} {np.mean(probs[c].argmax(axis=1) == labels):.3f}" for c in probs if c != CLEAN), flush=True)
    print_gains(numbers, [seed for _, seed in args.run])


if __name__ == "__main__":
    main()
