"""experiments/partner_views.py: the clip summaries its partners read, and the partner's layers."""

import sys
from pathlib import Path

import numpy as np

import audio
import model as model_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import partner_views  # noqa: E402


def test_deltas_are_the_slope_of_each_coefficient_away_from_the_edges():
    t = np.arange(50, dtype=np.float32)[:, None]
    frames = np.hstack([3.0 * t, -0.5 * t, np.full_like(t, 7.0), t ** 2])
    d = partner_views.deltas(frames)
    assert d.shape == frames.shape
    inside = slice(partner_views.DELTA_WIDTH, -partner_views.DELTA_WIDTH)
    np.testing.assert_allclose(d[inside, 0], 3.0, rtol=1e-6)
    np.testing.assert_allclose(d[inside, 1], -0.5, rtol=1e-6)
    np.testing.assert_allclose(d[:, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(d[inside, 3], 2.0 * t[inside, 0], rtol=1e-6)  # d(t^2)/dt
    assert abs(d[0, 0]) < 3.0  # an edge repeats its frame, so its slope is flattened


def test_every_view_summarises_a_clip_in_a_fixed_number_of_values():
    rng = np.random.default_rng(0)
    for n_frames in (30, 300):
        c = audio.mfcc(rng.normal(-40.0, 10.0, (n_frames, audio.N_MELS)))
        sizes = {name: summary(c).shape for name, (summary, _, _) in partner_views.VIEWS.items()}
        assert sizes["mean"] == (audio.N_MFCC,)
        assert sizes["mean-no-c0"] == (audio.N_MFCC - 1,)
        assert sizes["level"] == (len(partner_views.LEVEL_PERCENTILES),)
        assert sizes["mean+spread+deltas"] == (3 * audio.N_MFCC,)


def test_the_partner_is_the_seed_model_on_another_input_length():
    seed = model_lib.build("seed")
    net = partner_views.partner(17, seed=0)
    assert net.input_shape == (None, 17, 1)
    assert net.output_shape == seed.output_shape
    assert [type(layer) for layer in net.layers] == [type(layer) for layer in seed.layers]
    assert float(net.optimizer.learning_rate) == float(seed.optimizer.learning_rate)


def test_on_the_mfcc_means_the_partner_starts_from_the_shipped_partners_weights():
    import neural_network as nn

    net = partner_views.partner(audio.N_MFCC, seed=7)
    nn.set_seed(7)  # as neural_network.fit seeds the seed's model before it builds it
    shipped = model_lib.build("seed")
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), shipped.get_weights()))
    other = partner_views.partner(audio.N_MFCC, seed=8)
    assert not np.array_equal(other.get_weights()[0], shipped.get_weights()[0])
