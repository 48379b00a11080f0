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


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.stem)
def test_a_patched_module_defines_each_name_once(patch, tmp_path):
    # A patch can apply and still be broken: one that adds a function the tree has since gained a
    # namesake of (later in the file) is overridden by it. Applied to a copy of the files it
    # touches, every Python file it leaves must parse and define each top-level name once.
    import ast

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(["git", "apply", "--numstat", str(patch)], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    touched = [line.split("\t")[2] for line in listed]
    for name in touched:
        if (REPO / name).exists():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, tmp_path / name)
    applied = subprocess.run(["git", "apply", str(patch.resolve())], cwd=tmp_path, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    for name in (n for n in touched if n.endswith(".py")):
        tree = ast.parse((tmp_path / name).read_text(), filename=name)
        defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        twice = sorted({n for n in defined if defined.count(n) > 1})
        assert not twice, f"{patch.name} leaves {name} defining {', '.join(twice)} twice; remake it"
