"""Benchmark: seconds per training step of our model with a given set of towers (model.TOWERS).

    python benchmarks/train_step.py                        # t40 alone, the shipped t40+t40b, f40 alone
    python benchmarks/train_step.py t40 f40+t40 --threads 2
    python benchmarks/train_step.py t40+t40b f40c --onednn off  # without TensorFlow's oneDNN kernels

Each tower set is built by model.build("cnn") (CNN_TOWERS set to it) and trained on one batch
(neural_network.BATCH_SIZE["cnn"] windows) again and again (train_on_batch; the inputs are random
numbers of the model's input shape, which cost what real windows cost). The sets are timed in turn, REPS rounds of STEPS
steps each, and the fastest round is reported, so a busy machine shows less in the numbers. How
long a whole training takes is what neural_network.py logs; this tells which part of a model costs.
Our scripts train with TensorFlow's oneDNN kernels on (model.py sets TF_ENABLE_ONEDNN_OPTS=1
unless the environment says otherwise); --onednn off times TensorFlow's plain kernels instead.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Tower sets timed by default ("+" joins the towers of one model).
DEFAULT_SETS = ("t40", "t40+t40b", "f40")
# Rounds over the sets, and training steps timed per set in each round.
REPS, STEPS = 8, 5
# TensorFlow threads: 1 gives the most repeatable numbers; the machine has 2 cores.
THREADS = 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", default=list(DEFAULT_SETS), help="tower sets, e.g. t40+t40b")
    parser.add_argument("--threads", type=int, default=THREADS, help="TensorFlow threads per op")
    parser.add_argument("--reps", type=int, default=REPS, help="rounds over the sets")
    parser.add_argument("--onednn", choices=("on", "off"),
                        help="TensorFlow's oneDNN kernels on or off (TF_ENABLE_ONEDNN_OPTS); "
                             "default: as the environment says, else on, as our scripts train")
    args = parser.parse_args(argv)
    if args.onednn:  # read when TensorFlow is first imported, below
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"

    import numpy as np

    import audio
    import model as model_lib
    from corpus import EMOTIONS
    from neural_network import BATCH_SIZE, onednn_on

    sets = [tuple(s.split("+")) for s in args.sets]
    for towers in sets:
        unknown = [t for t in towers if t not in model_lib.TOWERS]
        if unknown:
            parser.error(f"unknown towers {', '.join(unknown)}; choose from {', '.join(model_lib.TOWERS)}")
    if args.threads < 1 or args.reps < 1:
        parser.error("--threads and --reps must be at least 1")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(0)
    batch = BATCH_SIZE["cnn"]
    x = rng.normal(size=(batch, model_lib.N_FRAMES, audio.N_MELS)).astype(np.float32)
    y = np.eye(len(EMOTIONS), dtype=np.float32)[rng.integers(0, len(EMOTIONS), batch)]
    nets = []
    for towers in sets:
        model_lib.CNN_TOWERS = towers
        net = model_lib.build("cnn")
        targets = {name: y for name in towers}
        for _ in range(2):  # the first steps trace and compile the graph
            net.train_on_batch(x, targets)
        nets.append((net, targets))
    best = [float("inf")] * len(sets)
    for _ in range(args.reps):
        for k, (net, targets) in enumerate(nets):
            t = time.perf_counter()
            for _ in range(STEPS):
                net.train_on_batch(x, targets)
            best[k] = min(best[k], (time.perf_counter() - t) / STEPS)
    onednn = "on" if onednn_on() else "off"
    print(f"| towers | ms per training step ({batch} windows, {args.threads} thread(s), oneDNN {onednn}, "
          f"fastest of {args.reps} rounds) | relative to {args.sets[0]} |")
    print("|---|---|---|")
    for name, b in zip(args.sets, best):
        print(f"| {name} | {b * 1000:.1f} | {b / best[0]:.2f} |")


if __name__ == "__main__":
    main()
