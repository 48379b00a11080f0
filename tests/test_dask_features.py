"""create_features.py on a Dask cluster (2 local worker processes) gives the local run's features."""

import numpy as np
import pytest

from conftest import link_subset, run_script
from create_features import META_FIELDS, load_features, unpack


def test_dask_cluster_features_equal_local_run(small_dataset, small_features, tmp_path):
    distributed = pytest.importorskip("distributed")
    # A third of the small subset (every third file, sorted), enough for both workers; each file's
    # numbers are compared with the local run's of the same file.
    rels = sorted(p.relative_to(small_dataset).as_posix() for p in small_dataset.rglob("*.flac"))[::3]
    dataset = link_subset(tmp_path / "dataset", rels)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, local_directory=tmp_path / "dask") as cluster:
        out = tmp_path / "features.joblib"
        result = run_script("create_features.py", "--dataset", dataset, "--out", out,
                            "--scheduler", cluster.scheduler_address)
        assert result.returncode == 0, result.stderr
        assert "on 2 Dask worker(s)" in result.stdout
        with distributed.Client(cluster) as client:  # the cluster ran with its 2 workers
            assert len(client.nthreads()) == 2
    local, remote = load_features(small_features), load_features(out)
    assert remote["path"] == rels and remote["skipped"] == local["skipped"]
    rows = np.array([local["path"].index(rel) for rel in rels])
    for j, i in enumerate(rows):
        assert np.array_equal(remote["features"][j], local["features"][i])
    assert np.array_equal(remote["labels"], local["labels"][rows])
    for field in META_FIELDS:
        assert remote[field] == [local[field][i] for i in rows], field
    # The workers run the speech embedding's networks from the same absolute folder: the same numbers.
    np.testing.assert_allclose(remote["embeddings"], local["embeddings"][rows], atol=1e-5)
    assert remote["embedding_params"] == local["embedding_params"]
    # The random training copies are seeded by file, so the cluster makes the very same ones.
    import joblib
    assert joblib.load(out.parent / "robustness.joblib")["path"] == rels
    a, b = joblib.load(small_features.parent / "augmented.joblib"), joblib.load(out.parent / "augmented.joblib")
    a_copies, b_copies = unpack(a["frames"], a["offsets"]), unpack(b["frames"], b["offsets"])
    assert b["path"] == rels and len(b_copies) == len(b["source"]) > 0
    for j, i in enumerate(rows):
        theirs = [c for c, s in zip(b_copies, b["source"]) if s == j]
        ours = [c for c, s in zip(a_copies, a["source"]) if s == i]
        assert len(theirs) == len(ours) > 0
        assert all(np.array_equal(x, y) for x, y in zip(theirs, ours))


def test_unreachable_scheduler_is_one_line(small_dataset, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "features.joblib"
    result = run_script("create_features.py", "--dataset", small_dataset, "--out", out,
                        "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2")
    assert result.returncode == 1 and not out.exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: tcp://127.0.0.1:9: cannot reach the Dask scheduler")
    assert "Traceback" not in result.stderr
