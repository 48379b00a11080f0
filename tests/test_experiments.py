"""experiments/: every patch of a change we tried still applies to this tree, as its README says."""

import shutil
import subprocess

import pytest

from conftest import REPO

PATCHES = sorted((REPO / "experiments").glob("*.patch"))


def test_there_are_patches_to_check():
    assert PATCHES, "experiments/ should hold the patches its README names"
    named = (REPO / "experiments" / "README.md").read_text()
    assert all(f"experiments/{p.name}" in named for p in PATCHES)


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.stem)
def test_patch_applies_to_this_tree(patch):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "apply", "--check", str(patch)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"{patch.name} no longer applies; remake it: {result.stderr.strip()}"
