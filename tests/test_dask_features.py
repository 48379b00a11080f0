"""create_features.py on a Dask cluster (2 local worker processes) gives the local run's features."""

import numpy as np
import pytest

from conftest import run_script
from create_features import META_FIELDS, load_features


def test_dask_cluster_features_equal_local_run(small_dataset, small_features, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, local_directory=tmp_path / "dask") as cluster:
        out = tmp_path / "features.joblib"
        result = run_script("create_features.py", "--dataset", small_dataset, "--out", out,
                            "--scheduler", cluster.scheduler_address)
        assert result.returncode == 0, result.stderr
        assert "on 2 Dask worker(s)" in result.stdout
        with distributed.Client(cluster) as client:  # the cluster ran with its 2 workers
            assert len(client.nthreads()) == 2
    local, remote = load_features(small_features), load_features(out)
    assert np.array_equal(remote["frames"], local["frames"])
    assert np.array_equal(remote["offsets"], local["offsets"])
    assert np.array_equal(remote["labels"], local["labels"])
    for field in META_FIELDS:
        assert remote[field] == local[field], field
    assert remote["skipped"] == local["skipped"]
    # The workers run the speech embedding's networks from the same absolute folder: the same numbers.
    np.testing.assert_allclose(remote["embeddings"], local["embeddings"], atol=1e-5)
    assert remote["embedding_params"] == local["embedding_params"]
    # The random training copies are seeded by file, so the cluster makes the very same ones.
    import joblib
    for name in ("augmented.joblib", "robustness.joblib"):
        a, b = joblib.load(small_features.parent / name), joblib.load(out.parent / name)
        assert a["path"] == b["path"]
    a, b = joblib.load(small_features.parent / "augmented.joblib"), joblib.load(out.parent / "augmented.joblib")
    assert np.array_equal(a["frames"], b["frames"]) and np.array_equal(a["source"], b["source"])


def test_unreachable_scheduler_is_one_line(small_dataset, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "features.joblib"
    result = run_script("create_features.py", "--dataset", small_dataset, "--out", out,
                        "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2")
    assert result.returncode == 1 and not out.exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: tcp://127.0.0.1:9: cannot reach the Dask scheduler")
    assert "Traceback" not in result.stderr
