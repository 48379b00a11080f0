"""Mp4ToWav.py on MP4s made here from corpus audio, one without audio, and a text file named .mp4."""

import json

import numpy as np
import pytest
import soundfile as sf

import audio
from conftest import best_correlation, real_file, run_script

CLIP = "RAVDESS/Actor_01/03-01-05-02-01-01-01.flac"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """videos/a.mp4 (48 kHz stereo AAC), videos/sub/b.mp4 (16 kHz), videos/silent.mp4 (no audio track),
    videos/text.mp4 (not a video)."""
    from moviepy import AudioFileClip, ColorClip
    folder = tmp_path_factory.mktemp("videos")
    (folder / "sub").mkdir()
    y, sr = sf.read(real_file(CLIP), dtype="float32")
    wav = folder.parent / "source.wav"
    sf.write(wav, np.stack([y, y], axis=1), sr)
    sound = AudioFileClip(str(wav))
    for name, rate in (("a.mp4", 48000), ("sub/b.mp4", 16000)):
        ColorClip((64, 48), color=(20, 40, 60), duration=sound.duration).with_audio(sound).write_videofile(
            str(folder / name), fps=10, codec="libx264", audio_codec="aac", audio_fps=rate, logger=None)
    ColorClip((64, 48), color=(0, 0, 0), duration=1).write_videofile(str(folder / "silent.mp4"), fps=10, logger=None)
    (folder / "text.mp4").write_text("this is not a video\n")
    return folder


def test_folder_keeps_rates_reports_bad_videos_and_wavs_predict(videos, tmp_path):
    out = tmp_path / "wavs"
    result = run_script("Mp4ToWav.py", videos, "--out", out)
    assert result.returncode == 1
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert any(str(videos / "silent.mp4") in l and "has no audio track" in l for l in errors)
    assert any(str(videos / "text.mp4") in l and "not a readable video" in l for l in errors)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.wav", "sub", "sub/b.wav"]
    assert (sf.info(out / "a.wav").samplerate, sf.info(out / "a.wav").channels) == (48000, 2)
    assert sf.info(out / "sub" / "b.wav").samplerate == 16000
    ref = audio.load_audio(real_file(CLIP))[audio.SAMPLE_RATE // 10:-audio.SAMPLE_RATE // 5]  # codec edges aside
    for wav in (out / "a.wav", out / "sub" / "b.wav"):
        score, _ = best_correlation(audio.load_audio(wav), ref)
        assert score > 0.95, wav                          # AAC is lossy, but the same sound
    result = run_script("live_predictions.py", "--json", out)
    assert result.returncode == 0, result.stderr
    assert [json.loads(l)["speech"] for l in result.stdout.splitlines()] == [True, True]


def test_one_file_beside_it_and_rate_option(videos, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes((videos / "a.mp4").read_bytes())
    result = run_script("Mp4ToWav.py", video, "--rate", 16000)
    assert result.returncode == 0, result.stderr
    assert sf.info(tmp_path / "clip.wav").samplerate == 16000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.wav"]


def test_video_without_audio_alone_is_one_line(videos):
    result = run_script("Mp4ToWav.py", videos / "silent.mp4")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"error: {videos / 'silent.mp4'}: has no audio track"
    assert not (videos / "silent.wav").exists()
