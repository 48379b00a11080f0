"""experiments/prosody_partner.py: its scaling of the prosody by the training files (the prosody
itself is audio.prosody, tested in test_prosody.py)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import prosody_partner as pp  # noqa: E402


def test_standardise_scales_by_the_training_rows_only():
    x = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    x[:, 1, 1] = 5.0  # a value that never changes is left unscaled, not divided by 0
    train = np.array([0, 1, 2])
    z = pp.standardise(x, train)
    np.testing.assert_allclose(z[train, 0, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[train, 0, 0].std(), 1.0, rtol=1e-5)
    assert z[5, 0, 0] > z[2, 0, 0] + 1.0  # the test rows are moved by the training rows' statistics
    np.testing.assert_allclose(z[:, 1, 1], 0.0)
