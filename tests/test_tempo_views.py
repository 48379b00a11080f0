"""experiments/tempo_views.py: ours also averaging each clip's unwarped views played faster and slower."""

import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "experiments"))
import tempo_views  # noqa: E402
import audio  # noqa: E402
import model  # noqa: E402


def test_the_tempo_views_follow_the_products_views_each_unwarped_view_stretched():
    y = audio.load_audio(REPO / "examples" / "03-01-05-02-01-01-13.wav")
    product = model.clip_views(y, (20, 10), (0.9, 1.1))
    with tempo_views.with_tempo_views():
        views = model.clip_views(y, (20, 10), (0.9, 1.1))
        alone = model.clip_views(y, None, ())  # no noise, no warps: the clip and its two tempos
    assert len(product) == 9 and len(views) == 15 and len(alone) == 3
    for a, b in zip(views[:9], product):  # the product's views first, unchanged
        np.testing.assert_array_equal(a, b)
    # Then the clip and its two noisy copies (the first 3 views), each at every tempo, in that order.
    expected = [model.stretch_frames(v, t) for v in product[:3] for t in tempo_views.TEMPOS]
    for a, b in zip(views[9:], expected):
        np.testing.assert_array_equal(a, b)
    n = len(product[0])
    assert [len(v) for v in views[9:11]] == [round(n / t) for t in tempo_views.TEMPOS]
    assert len(views[9]) > n > len(views[10])  # 0.9 plays slower (more frames), 1.1 faster
    np.testing.assert_array_equal(alone[0], product[0])


def test_the_products_views_come_back_after_the_tempo_views_even_on_an_error():
    y = audio.load_audio(REPO / "examples" / "OAF_back_ps.wav")
    with pytest.raises(RuntimeError):
        with tempo_views.with_tempo_views():
            assert len(model.clip_views(y, 20, ())) == 6
            raise RuntimeError("stop inside")
    assert len(model.clip_views(y, 20, ())) == 2
