"""live_predictions.py as a user runs it: the README's command, batches, bad files, bad models."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audio
import corpus
import model as model_lib
from conftest import REPO, real_file, run_script

EXAMPLE = REPO / "examples" / "03-01-05-02-01-01-13.wav"
PROB_LINE = re.compile(r"^  (\w+)\s+(\d\.\d{3})")


def probabilities(stdout):
    """The emotion -> probability lines printed for one file."""
    return {m.group(1): float(m.group(2)) for m in map(PROB_LINE.match, stdout.splitlines()) if m}


def readme_command(label):
    """The shell command in the README's opening block that follows the comment ``label``."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    for line in block.splitlines():
        if line.startswith("bash ") and label in line:
            return line.split("#")[0].strip()
    raise AssertionError(f"no README command marked {label!r}")


def test_readme_main_command_prints_emotion_and_all_probabilities():
    import subprocess
    command = readme_command("predict")
    result = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    probs = probabilities(result.stdout)
    assert set(probs) == set(corpus.EMOTIONS)
    assert abs(sum(probs.values()) - 1) < 0.01
    first = result.stdout.splitlines()[-9]
    assert first.startswith("examples/") and f"({max(probs.values()):.2f})" in first


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == readme_command("tests")


def test_default_is_audio_file_and_json_lines():
    result = run_script("live_predictions.py", "--json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["file"] == "examples/03-01-05-02-01-01-13.wav"
    assert list(record["probabilities"]) [0] == record["emotion"]
    assert sorted(record["probabilities"]) == sorted(corpus.EMOTIONS)
    values = list(record["probabilities"].values())
    assert values == sorted(values, reverse=True)


def test_clip_alone_option_predicts_each_clip_by_itself():
    # The shipped model averages each clip with a noisy copy; --clip-alone predicts the clip alone,
    # exactly as the in-process Predictor.clip_alone does.
    clip = real_file("RAVDESS/Actor_01/03-01-05-01-01-01-01.flac")
    shipped = model_lib.load(REPO / "model")
    default, alone = (run_script("live_predictions.py", "--json", *extra, clip) for extra in ([], ["--clip-alone"]))
    assert default.returncode == 0 and alone.returncode == 0, (default.stderr, alone.stderr)
    got = {name: json.loads(r.stdout)["probabilities"] for name, r in (("default", default), ("alone", alone))}
    for name, predictor in (("default", shipped), ("alone", model_lib.load(REPO / "model").clip_alone())):
        expected = predictor.predict_file(clip)
        assert list(got[name]) == list(expected)
        np.testing.assert_allclose(list(got[name].values()), list(expected.values()), atol=1e-6)
    if shipped.noise_db is not None or shipped.warps:
        assert not np.allclose([got["default"][e] for e in corpus.EMOTIONS],
                               [got["alone"][e] for e in corpus.EMOTIONS], atol=1e-4)


def write_bad_inputs(folder):
    """Every kind of bad or odd input a user may hand the predictor. Returns {name: expected error}."""
    y = audio.load_audio(EXAMPLE)
    expected = {}
    (folder / "empty.wav").write_bytes(b"")
    expected["empty.wav"] = "empty file"
    (folder / "text.wav").write_text("not audio at all\n" * 10)
    expected["text.wav"] = "not a readable audio file"
    sf.write(folder / "short.wav", y[:1600], audio.SAMPLE_RATE)
    expected["short.wav"] = "too short"
    return expected


def write_good_inputs(folder):
    """Odd but valid audio: formats, rates, channels, a truncated WAV, a 10-minute file."""
    y = audio.load_audio(EXAMPLE)
    names = []
    for subtype in ("PCM_U8", "PCM_24", "PCM_32", "FLOAT"):
        sf.write(folder / f"fmt_{subtype}.wav", y, audio.SAMPLE_RATE, subtype=subtype)
        names.append(f"fmt_{subtype}.wav")
    import soxr
    for rate in (8000, 44100, 96000):
        sf.write(folder / f"rate_{rate}.wav", soxr.resample(y, audio.SAMPLE_RATE, rate), rate)
        names.append(f"rate_{rate}.wav")
    for ch in (2, 6):
        sf.write(folder / f"ch_{ch}.wav", np.repeat(y[:, None], ch, axis=1), audio.SAMPLE_RATE)
        names.append(f"ch_{ch}.wav")
    whole = (folder / "rate_44100.wav").read_bytes()
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    names.append("truncated.wav")
    long = np.tile(y, int(600 * audio.SAMPLE_RATE / len(y)) + 1)[:600 * audio.SAMPLE_RATE]
    sf.write(folder / "ten_minutes.flac", long, audio.SAMPLE_RATE)
    names.append("ten_minutes.flac")
    return names


def test_batch_with_bad_files_predicts_the_good_and_lists_the_bad(tmp_path):
    bad = write_bad_inputs(tmp_path)
    good = write_good_inputs(tmp_path)
    (tmp_path / "notes.txt").write_text("a stray file in the folder")
    sf.write(tmp_path / "silence.wav", np.zeros(3 * audio.SAMPLE_RATE), audio.SAMPLE_RATE)
    missing = tmp_path / "missing.wav"
    result = run_script("live_predictions.py", "--json", tmp_path, missing)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    records = {json.loads(line)["file"]: json.loads(line) for line in result.stdout.splitlines()}
    for name in good:
        assert sorted(records[str(tmp_path / name)]["probabilities"]) == sorted(corpus.EMOTIONS), name
    for name, problem in bad.items():
        assert problem in records[str(tmp_path / name)]["error"]
    assert "no such file" in records[str(missing)]["error"]
    assert records[str(tmp_path / "silence.wav")] == {"file": str(tmp_path / "silence.wav"),
                                                      "emotion": None, "speech": False}
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == len(bad) + 1 and all(str(tmp_path) in l for l in errors)
    assert "ignored 1 non-audio file(s)" in result.stderr
    assert f"{len(bad) + 1} of {len(bad) + len(good) + 2} file(s) could not be predicted" in result.stderr
    # The same samples in another sample format or channel count get the same prediction.
    # (Resampling is lossy near the top band, so other rates are only required to work above.)
    ref = records[str(tmp_path / "fmt_FLOAT.wav")]["probabilities"]
    for name in ("fmt_PCM_24.wav", "fmt_PCM_32.wav", "ch_2.wav", "ch_6.wav"):
        got = records[str(tmp_path / name)]["probabilities"]
        assert max(abs(got[e] - ref[e]) for e in ref) < 0.02, name


def test_silence_noise_and_hum_get_no_speech_not_an_emotion(tmp_path):
    """Live audio (issue 4): vad.py's decision; "no speech" is an answer, not an error."""
    sr = audio.SAMPLE_RATE
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    clips = {"silence.wav": np.zeros(3 * sr),
             "white_noise.wav": 0.1 * rng.standard_normal(3 * sr),
             "hum.flac": 0.1 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6))}
    for name, y in clips.items():
        sf.write(tmp_path / name, y, sr)
    shutil.copy(EXAMPLE, tmp_path / "speech.wav")
    result = run_script("live_predictions.py", tmp_path)
    assert result.returncode == 0, result.stderr
    for name in clips:
        assert f"{tmp_path / name}: no speech" in result.stdout.splitlines()
    assert re.search(rf"^{re.escape(str(tmp_path / 'speech.wav'))}: \w+ \(\d\.\d\d\)$", result.stdout, re.M)


@pytest.mark.parametrize("damage, problem", [
    ("truncate_keras", "does not match"),
    ("garbage_keras_and_hash", "cannot be loaded"),
    ("bad_json", "corrupted model metadata"),
    ("other_frontend", "other front-end parameters"),
    ("missing", "missing"),
])
def test_damaged_or_mismatched_model_is_refused_in_one_line(model_copy, damage, problem):
    meta_path, keras_path = model_copy / model_lib.META_FILE, model_copy / model_lib.MODEL_FILE
    meta = json.loads(meta_path.read_text())
    if damage == "truncate_keras":
        keras_path.write_bytes(keras_path.read_bytes()[:1000])
    elif damage == "garbage_keras_and_hash":
        keras_path.write_bytes(b"PK\x03\x04 not really a zip")
        meta["keras_sha256"] = model_lib._sha256(keras_path)
        meta.pop("export", None)  # a model folder without the NumPy copy: Keras reads the file
        meta_path.write_text(json.dumps(meta))
    elif damage == "bad_json":
        meta_path.write_text("{ not json")
    elif damage == "other_frontend":
        meta["frontend"]["hop_length"] = 256
        meta_path.write_text(json.dumps(meta))
    elif damage == "missing":
        keras_path.unlink()
    result = run_script("live_predictions.py", "--model-dir", model_copy, EXAMPLE)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and problem in lines[0]
    assert str(model_copy) in lines[0]


@pytest.mark.parametrize("crash_at", ["keras", "export", "metadata", "swap"])
def test_saving_over_a_model_never_leaves_half_a_model(model_copy, monkeypatch, crash_at):
    # Each step of saving the main model fails in turn, after the blended-in model and the earlier
    # files are written; the old model, blend included, stays whole and nothing is left beside it.
    def files():
        return {p.relative_to(model_copy): p.read_bytes() for p in model_copy.rglob("*") if p.is_file()}

    before = files()
    predictor = model_lib.load(model_copy, backend="keras")
    expected = predictor.predict_file(EXAMPLE)
    main = lambda path: Path(path).parent.name != model_lib.BLEND_FOLDER  # noqa: E731

    def fail(*args, **kwargs):
        raise OSError("disk full")

    if crash_at == "keras":
        def crash(path, *a, **k):
            open(path, "wb").write(b"half")
            fail()
        monkeypatch.setattr(predictor.keras_model, "save", crash)
    elif crash_at == "export":
        export = model_lib.numpy_model.export
        monkeypatch.setattr(model_lib.numpy_model, "export",
                            lambda m, path, **k: fail() if main(path) else export(m, path, **k))
    elif crash_at == "metadata":
        write = model_lib.write_atomic
        monkeypatch.setattr(model_lib, "write_atomic", lambda path, w: fail() if (
            Path(path).name == model_lib.META_FILE and main(path)) else write(path, w))
    elif crash_at == "swap":  # the new folder cannot be renamed in: the old one is renamed back
        rename = os.rename
        monkeypatch.setattr(os, "rename", lambda src, dst: fail() if Path(src).name.startswith(
            ".model.new-") else rename(src, dst))
    third = None if predictor.third_voice is None else {  # its file is written first when there is one
        **predictor.third_voice, "weight": predictor.third_weight, "c": predictor.meta["third_voice"]["c"]}
    with pytest.raises(OSError, match="disk full"):
        model_lib.save(predictor.keras_model, model_copy, arch=predictor.arch,
                       blend_with=(predictor.blended.keras_model, 0.1, predictor.blended.prosody_scale),
                       third_voice=third)
    assert files() == before
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["model"]
    assert model_lib.load(model_copy).predict_file(EXAMPLE) == pytest.approx(expected, abs=1e-5)


def test_a_save_stopped_between_its_two_renames_names_the_old_model(model_copy):
    # What a crash between replace_folder's renames leaves: no model folder, the old one beside it.
    left = model_copy.with_name(".model.old-x1y2")
    model_copy.rename(left)
    result = run_script("live_predictions.py", "--model-dir", model_copy, EXAMPLE)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(left) in lines[0] and "rename that folder to model" in lines[0]
    left.rename(model_copy)
    assert run_script("live_predictions.py", "--model-dir", model_copy, EXAMPLE).returncode == 0


def test_saving_into_a_folder_of_other_files_is_refused(model_copy, tmp_path):
    predictor = model_lib.load(model_copy, backend="keras")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(model_lib.ModelError, match="notes.txt.*new folder or over a model folder"):
        model_lib.save(predictor.keras_model, tmp_path, arch=predictor.arch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes.txt"]


def test_readme_results_are_the_shipped_models_metrics():
    """The README's table is the one neural_network.py printed and saved for the shipped model."""
    metrics = json.loads((REPO / "media" / "metrics.json").read_text())
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    assert metrics["table"].strip() in block
    meta = model_lib.read_meta(REPO / "model")
    assert meta["architecture"] == metrics["shipped"]
    assert f"Shipped model: `{metrics['shipped']}`" in block
    if "evaluation" in meta:
        assert meta["evaluation"] == {p: r["scores"] for p, r in metrics[meta["architecture"]].items()}


def test_reader_closing_the_output_early_ends_quietly():
    # `live_predictions.py <folders> | head -1`: the reader leaves after the first file. The first
    # chunk of 256 files prints about 100 kB, more than a pipe holds, so the script is still
    # writing when the pipe closes; it stops without a traceback, as a shell tool does.
    from conftest import start_script
    actors = [real_file(f"RAVDESS/Actor_0{a}/03-01-01-01-01-01-0{a}.flac").parent for a in range(1, 6)]
    proc = start_script("live_predictions.py", *actors)
    first = proc.stdout.readline()
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=600)
    assert first.startswith(str(actors[0])) and first.rstrip().endswith(")"), first
    assert proc.returncode == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
