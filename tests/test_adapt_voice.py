"""experiments/adapt_voice.py: re-estimating the BatchNormalization statistics of our model on a voice."""

import sys
from pathlib import Path

import numpy as np

import audio
import model as model_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import adapt_voice  # noqa: E402


def test_adapt_blends_each_layer_toward_the_statistics_of_its_input():
    import keras

    net = model_lib.ensemble(model_lib.build("cnn"))
    layers = adapt_voice.norm_layers(net)
    assert len(layers) == 3 * len(model_lib.CNN_TOWERS)
    trained = [layer.get_weights() for layer in layers]  # fresh: mean 0, variance 1
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, model_lib.N_FRAMES, audio.N_MELS)).astype(np.float32)

    adapt_voice.adapt(net, trained, x, 0.0)
    first = layers[0]
    seen = np.asarray(keras.Model(net.input, first.input)(x, training=False))
    _, _, mean, var = first.get_weights()
    np.testing.assert_allclose(mean, seen.mean(axis=(0, 1)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(var, seen.var(axis=(0, 1)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(mean, trained[0][2])  # the input's statistics are not the trained ones
    # Each later layer is adapted with the layers before it already adapted: its input is normalised.
    last = layers[2]
    after = np.asarray(keras.Model(net.input, last.output)(x, training=False))
    gamma, beta = last.get_weights()[:2]
    np.testing.assert_allclose(((after - beta) / gamma).mean(axis=(0, 1)), 0.0, atol=1e-2)

    adapt_voice.adapt(net, trained, x, 0.5)  # half way
    np.testing.assert_allclose(first.get_weights()[2], 0.5 * trained[0][2] + 0.5 * seen.mean(axis=(0, 1)),
                               rtol=1e-4, atol=1e-5)

    adapt_voice.adapt(net, trained, None, 1.0)  # back to the trained statistics
    for layer, weights in zip(layers, trained):
        for got, want in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(got, want)
