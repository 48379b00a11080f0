"""streaming.py on a real audio device: corpus clips and silences played into a PulseAudio null sink.

One session hears a played sequence (silence, clip A, silence, clip B, silence). Its saved audio
is aligned with the sequence by correlation, so each CSV row's window is known: windows holding a
whole clip must name the emotion the model gives that clip offline, windows inside a silence must
say no speech, and no input frame may be dropped.
"""

import csv
import signal
import time

import numpy as np
import pytest
import soundfile as sf

import audio
import model as model_lib
from conftest import (REPO, best_correlation, play_into_sink, real_file, run_script, start_pulse,
                      start_script, stop_pulse, wait_for_line)

# Two strong, clear clips of different emotions, by the same speaker.
CLIPS = ["TESS/YAF_angry/YAF_back_angry.flac", "TESS/YAF_sad/YAF_back_sad.flac"]
LEAD, GAP = 1.0, 3.5          # seconds of silence before the first clip and after each clip
WINDOW, HOP = 2.5, 0.25


def build_sequence(folder):
    """The played sequence as a 16 kHz WAV, and the [start, end) seconds of each clip's speech."""
    sr = audio.SAMPLE_RATE
    parts, spans, t = [np.zeros(int(LEAD * sr), np.float32)], [], LEAD
    for rel in CLIPS:
        y = audio.load_audio(real_file(rel))
        speech = audio.trim_silence(y)
        offset = (speech.__array_interface__["data"][0] - y.__array_interface__["data"][0]) // y.itemsize
        spans.append((t + offset / sr, t + (offset + len(speech)) / sr))
        parts += [y, np.zeros(int(GAP * sr), np.float32)]
        t += (len(y) + int(GAP * sr)) / sr
    sequence = np.concatenate(parts)
    path = folder / "sequence.wav"
    sf.write(path, sequence, sr)
    return path, sequence, spans


def test_streaming_follows_played_emotions_and_says_no_speech_in_gaps(pulse, tmp_path):
    predictor = model_lib.load(REPO / "model")
    expected = [next(iter(predictor.predict_waveform(audio.load_audio(real_file(r))))) for r in CLIPS]
    assert expected[0] != expected[1], "the two clips should get different emotions"
    path, sequence, spans = build_sequence(tmp_path)

    session, table = tmp_path / "session.wav", tmp_path / "session.csv"
    proc = start_script("streaming.py", "--window", WINDOW, "--hop", HOP, "--save-audio", session,
                        "--csv", table)
    wait_for_line(proc.stderr, "listening on", timeout=120)
    play_into_sink(path).wait(60)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "input overflows: 0 (no audio dropped)" in stderr
    assert "delay from window end to result: median" in stderr

    heard = audio.load_audio(session)
    score, at = best_correlation(heard, sequence)
    assert score > 0.95                        # the whole sequence, with no frame dropped or added
    offset = at / audio.SAMPLE_RATE            # session time of the sequence's start
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == len(stdout.splitlines()) and len(rows) > 20

    checked = {"gap": 0, 0: 0, 1: 0}
    clip_windows = {0: [], 1: []}
    for row in rows:
        end = float(row["window_end_s"]) - offset
        start = end - WINDOW
        if start < 0:
            continue
        overlaps = [k for k, (a, b) in enumerate(spans) if start < b and end > a]
        if not overlaps and end <= len(sequence) / audio.SAMPLE_RATE:
            assert row["speech"] == "0", row          # silence between clips: no speech
            checked["gap"] += 1
        for k, (a, b) in enumerate(spans):
            if start <= a and b <= end and overlaps == [k]:
                assert row["speech"] == "1" and row["window_emotion"] == expected[k], (row, k)
                checked[k] += 1
            if overlaps == [k] and row["speech"] == "1":
                clip_windows[k].append(row["emotion"])
    assert min(checked.values()) >= 1, checked
    for k, labels in clip_windows.items():
        assert max(set(labels), key=labels.count) == expected[k], (k, labels)
    printed = stdout.splitlines()
    assert any(line.endswith("no speech") for line in printed)
    assert any(expected[0] in line for line in printed) and any(expected[1] in line for line in printed)


@pytest.mark.parametrize("extra", [[], ["--clip-alone"]])
def test_number_of_times_stops_by_itself(pulse, tmp_path, extra):
    result = run_script("streaming.py", "--window", 1, "--hop", 0.5, "--number-of-times", 3, *extra, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{t:8.2f} s  no speech" for t in (1.0, 1.5, 2.0)]


def test_device_that_disappears_mid_stream_keeps_the_session_audio(tmp_path):
    if subprocess_which("pulseaudio") is None:
        pytest.skip("PulseAudio is not installed (bash setup.sh installs it)")
    server, env = start_pulse(tmp_path / "pulse", sink="doomed")
    session = tmp_path / "session.wav"
    try:
        proc = start_script("streaming.py", "--window", 1, "--save-audio", session, env=env)
        wait_for_line(proc.stderr, "listening on", timeout=120)
        time.sleep(2.0)
    finally:
        stop_pulse(server)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    errors = [l for l in stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and "stopped delivering audio" in errors[0] and "Traceback" not in stderr
    assert sf.info(session).duration > 1.5


def test_full_disk_keeps_what_was_saved(pulse, tmp_path, mount_tmpfs):
    folder = mount_tmpfs("full", "size=64k")
    result = run_script("streaming.py", "--window", 1, "--number-of-times", 20,
                        "--save-audio", folder / "session.wav", timeout=120)
    assert result.returncode == 4
    errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    info = sf.info(folder / "session.wav")                    # a valid WAV of what fitted
    assert info.samplerate == 48000 and 0.3 < info.duration < 0.7
    assert [p.name for p in folder.iterdir()] == ["session.wav"]


def test_unwritable_csv_folder_and_no_device_fail_in_one_line(tmp_path, mount_tmpfs):
    folder = mount_tmpfs("readonly", "ro,size=64k")
    result = run_script("streaming.py", "--csv", folder / "p.csv")
    assert result.returncode == 4 and "Read-only file system" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    import os
    import subprocess
    import sys
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path / 'none'}"}
    result = subprocess.run([sys.executable, str(REPO / "streaming.py")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no audio input device found; connect a microphone (or start PulseAudio) and list "
        "devices with --list"]


def subprocess_which(name):
    import shutil
    return shutil.which(name)
