"""recordaudio.py on a real audio device: a PulseAudio null sink whose monitor is the microphone.

Corpus clips are played into the sink with paplay while the script records; the take must match
what was played. Faults are real too: no sound server, a server killed mid-take, a read-only
folder and a full disk (tmpfs mounts, as root).
"""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

import audio
from conftest import (REPO, best_correlation, play_into_sink, real_file, run_script, start_pulse,
                      start_script, stop_pulse, wait_for_line)

CLIP = "RAVDESS/Actor_01/03-01-05-02-01-01-01.flac"   # angry, strong: "kids are talking by the door"


def record_while_playing(clip, out, seconds, *extra, env=None):
    """Run recordaudio.py for `seconds`, play clip once it records; returns (CompletedProcess-like)."""
    proc = start_script("recordaudio.py", "--seconds", seconds, "--out", out, *extra, env=env)
    wait_for_line(proc.stderr, "recording from")
    player = play_into_sink(clip, env=env)
    stdout, stderr = proc.communicate(timeout=60)
    player.wait(30)
    return proc.returncode, stdout, stderr


def single_error_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_take_matches_what_was_played_and_predicts_without_conversion(pulse, tmp_path):
    clip = real_file(CLIP)
    out = tmp_path / "take.wav"
    rc, stdout, stderr = record_while_playing(clip, out, 5)
    assert rc == 0, stderr
    assert str(out) in stdout and "warning" not in stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (48000, 1, "PCM_16", 5 * 48000)
    assert [p.name for p in tmp_path.iterdir()] == ["take.wav"]          # no temp file left behind
    score, _ = best_correlation(audio.load_audio(out), audio.load_audio(clip))
    assert score > 0.9
    result = run_script("live_predictions.py", "--json", out)
    assert result.returncode == 0, result.stderr
    assert '"speech": true' in result.stdout


def test_ctrl_c_keeps_what_was_recorded(pulse, tmp_path):
    clip = real_file(CLIP)
    out = tmp_path / "take.wav"
    proc = start_script("recordaudio.py", "--seconds", 0, "--out", out)
    wait_for_line(proc.stderr, "until Enter or Ctrl-C")
    started = time.monotonic()
    play_into_sink(clip).wait(30)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, stderr
    seconds = sf.info(out).duration
    assert 3.0 < seconds < elapsed + 1.0
    score, _ = best_correlation(audio.load_audio(out), audio.load_audio(clip))
    assert score > 0.9


def test_silent_and_clipping_takes_are_warned_about(pulse, tmp_path):
    proc = start_script("recordaudio.py", "--seconds", 1.5, "--out", tmp_path / "silent.wav")
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "warning: " in stderr and "silent" in stderr
    loud = tmp_path / "loud.wav"
    rng = np.random.default_rng(0)
    sf.write(loud, np.sign(rng.standard_normal(2 * 48000)), 48000, subtype="PCM_16")
    rc, _, stderr = record_while_playing(loud, tmp_path / "clipped.wav", 2.5)
    assert rc == 0 and "clipping" in stderr


def test_playback_plays_the_take(pulse, tmp_path):
    """A second recorder hears the clip twice: played by paplay, then by recordaudio.py --play."""
    clip = real_file(CLIP)
    listener = start_script("recordaudio.py", "--seconds", 0, "--out", tmp_path / "heard.wav")
    wait_for_line(listener.stderr, "recording from")
    rc, _, stderr = record_while_playing(clip, tmp_path / "take.wav", 4.5, "--play")
    assert rc == 0, stderr
    time.sleep(1.0)                                      # the sound server's buffer drains
    listener.send_signal(signal.SIGINT)
    listener.communicate(timeout=30)
    heard = audio.load_audio(tmp_path / "heard.wav")
    ref = audio.load_audio(clip)
    first, at = best_correlation(heard, ref)
    rest = heard.copy()
    rest[at:at + len(ref)] = 0
    second, at2 = best_correlation(rest, ref)
    assert first > 0.9 and second > 0.85 and abs(at2 - at) >= 3.5 * audio.SAMPLE_RATE


def test_list_and_unknown_device(pulse):
    result = run_script("recordaudio.py", "--list")
    assert result.returncode == 0 and "pulse" in result.stdout
    result = run_script("recordaudio.py", "--device", "no-such-microphone", "--seconds", 1)
    assert result.returncode == 2
    assert "no input device 'no-such-microphone'" in single_error_line(result.stderr)


def test_no_input_device_is_one_line(tmp_path):
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path / 'no-server'}"}
    result = subprocess.run([os.sys.executable, str(REPO / "recordaudio.py"), "--seconds", "1",
                             "--out", str(tmp_path / "x.wav")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "no audio input device found" in single_error_line(result.stderr)
    assert not (tmp_path / "x.wav").exists()


def test_device_that_disappears_mid_take_keeps_the_audio(tmp_path):
    if subprocess.run(["which", "pulseaudio"], capture_output=True).returncode:
        pytest.skip("PulseAudio is not installed (bash setup.sh installs it)")
    server, env = start_pulse(tmp_path / "pulse", sink="doomed")
    try:
        proc = start_script("recordaudio.py", "--seconds", 0, "--out", tmp_path / "take.wav", env=env)
        wait_for_line(proc.stderr, "recording from")
        play_into_sink(real_file(CLIP), env=env, sink="doomed")
        time.sleep(2.0)
    finally:
        stop_pulse(server)                                   # the "device" goes away mid-take
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 3
    line = single_error_line(stderr)
    assert "stopped delivering audio" in line and str(tmp_path / "take.wav") in line
    assert sf.info(tmp_path / "take.wav").duration > 1.5


def test_read_only_folder_is_refused_before_recording(pulse, tmp_path, mount_tmpfs):
    folder = mount_tmpfs("readonly", "ro,size=64k")
    result = run_script("recordaudio.py", "--seconds", 1, "--out", folder / "take.wav")
    assert result.returncode == 4
    line = single_error_line(result.stderr)
    assert str(folder) in line and "Read-only file system" in line


def test_full_disk_keeps_the_take_elsewhere_and_leaves_nothing_half_written(pulse, tmp_path, mount_tmpfs):
    folder = mount_tmpfs("full", "size=64k")            # room to start, not for 2 s at 48 kHz (192 kB)
    rc, stdout, stderr = record_while_playing(real_file(CLIP), folder / "take.wav", 2.0)
    assert rc == 4
    line = single_error_line(stderr)
    assert "No space left on device" in line and "saved to" in line
    rescued = line.rsplit("saved to ", 1)[1].split(" instead")[0]
    try:
        assert sf.info(rescued).frames == 2 * 48000
    finally:
        os.unlink(rescued)
    assert list(folder.iterdir()) == []
