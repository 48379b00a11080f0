"""Shared test fixtures: where the real corpora are, and small real subsets of them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The real corpora live beside the checkout (../shared/datasets), on developer machines and in CI.
DATASETS = REPO.parent / "shared" / "datasets"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

needs_data = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"corpora not found at {DATASETS}")


def run_script(script, *args, cwd=REPO, timeout=600):
    """Run one of the repo's scripts as a user would; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def real_file(relpath):
    path = DATASETS / relpath
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def link_subset(dest, relpaths):
    """A dataset folder of symlinks to real corpus files, in the corpora's own layout."""
    for rel in relpaths:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(DATASETS / rel)
    return dest


def subset_relpaths(actors=(1, 2, 5, 6), tess_per_folder=6):
    """Relative paths of a small real subset: every file of some actors, a few of each TESS folder."""
    rels = []
    for a in actors:
        rels += sorted(p.relative_to(DATASETS).as_posix()
                       for p in (DATASETS / "RAVDESS" / f"Actor_{a:02d}").glob("*.flac"))
    for folder in sorted((DATASETS / "TESS").iterdir()):
        rels += sorted(p.relative_to(DATASETS).as_posix() for p in folder.glob("*.flac"))[:tess_per_folder]
    return rels


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """A real subset: 4 RAVDESS actors (2 folds) and 6 files of each TESS folder, as symlinks."""
    if not DATASETS.is_dir():
        pytest.skip(f"corpora not found at {DATASETS}")
    return link_subset(tmp_path_factory.mktemp("dataset"), subset_relpaths())


@pytest.fixture(scope="session")
def small_features(small_dataset, tmp_path_factory):
    """Features of the small real subset, written by create_features.py itself."""
    out = tmp_path_factory.mktemp("features") / "features.joblib"
    result = run_script("create_features.py", "--dataset", small_dataset, "--out", out, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    return out
