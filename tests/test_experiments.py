"""experiments/: every patch of a change we tried still applies to this tree, as its README says;
every experiment script starts; CI runs the README's test command, which leaves out only the
experiments' own runs."""

import re
import shutil
import subprocess

import pytest

from conftest import REPO, run_script

PATCHES = sorted((REPO / "experiments").glob("*.patch"))
SCRIPTS = sorted((REPO / "experiments").glob("*.py"))


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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_experiment_script_imports_and_parses_its_options(script):
    # The experiments' runs are marked experiment_run and left out of the README's test command
    # (CI); this keeps each script's imports and options checked there, so a change to the product
    # that an experiment no longer fits shows up in CI rather than at the next full run.
    result = run_script(script.relative_to(REPO), "--help")
    assert result.returncode == 0, f"{script.name}: {result.stderr.strip().splitlines()[-1:]}"
    assert result.stdout.startswith("usage: ")


def test_ci_runs_the_readmes_test_command_which_leaves_out_only_the_experiments_runs():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"^(bash setup\.sh && \.venv/bin/python -m pytest [^#\n]*?)\s*#", readme, re.M).group(1)
    assert command in (REPO / ".ci" / "run").read_text().splitlines()
    assert '-m "not experiment_run"' in command
    # The marked tests are the experiments': each file holding one imports from experiments/.
    marked = [p for p in sorted((REPO / "tests").glob("test_*.py")) if "@pytest.mark.experiment_run" in p.read_text()]
    assert marked and all('"experiments"' in p.read_text() for p in marked), marked
