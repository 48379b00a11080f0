"""Training is repeatable: the same seed on the same features gives the same model, bit for bit,
with TensorFlow's oneDNN kernels on (how our scripts train) and off (TF_ENABLE_ONEDNN_OPTS=0)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, needs_data

# Trains one model for 2 epochs on the features file for each tower set given (comma-separated
# tower names, one argument each), in turn, and prints the sha256 of its probabilities for every
# file, a line per set. TF_ENABLE_ONEDNN_OPTS is read when TensorFlow is first imported, so each
# setting runs in a process of its own.
TRAIN = """
import hashlib, sys
import numpy as np
import model as model_lib, neural_network
from create_features import load_features

data = load_features(sys.argv[1])
for towers in sys.argv[2:]:
    model_lib.CNN_TOWERS = tuple(towers.split(","))
    net, _, _ = neural_network.fit("cnn", data["features"], data["labels"], corpora=data["corpus"], epochs=2)
    probs = neural_network.predict("cnn", net, data["features"])
    print(hashlib.sha256(np.ascontiguousarray(probs, dtype=np.float32).tobytes()).hexdigest(), probs.shape)
"""


def _train(features, onednn, *tower_sets):
    """The hashes of the models trained on ``features``, one per tower set, in one process."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
    result = subprocess.run([sys.executable, "-c", TRAIN, str(features), *tower_sets], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert ("oneDNN custom operations are on" in result.stderr) == onednn  # the setting took effect
    hashes = [line.split()[0] for line in result.stdout.splitlines()]
    assert len(hashes) == len(tower_sets)
    return hashes


@needs_data
@pytest.mark.parametrize("onednn", [False, True], ids=["onednn-off", "onednn-on"])
def test_two_trainings_with_one_seed_give_the_same_probabilities(small_features, onednn):
    towers = "t40,f40c"  # a Conv1D tower over time and one with a Conv2D over the mel axis
    # The first process also trains other towers after it, which must give other probabilities:
    # the hash is of something that changes with the model.
    first, other = _train(small_features, onednn, towers, "t40")
    (second,) = _train(small_features, onednn, towers)
    assert first == second
    assert other != first
