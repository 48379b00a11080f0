"""Record the microphone into a WAV file that live_predictions.py predicts as it is.

    python recordaudio.py                                  # DURATION seconds -> examples/recording-<time>.wav
    python recordaudio.py --seconds 0                      # until Enter or Ctrl-C
    python recordaudio.py --list                           # the input devices (default marked *)
    python recordaudio.py --device pulse --seconds 3 --out take.wav --play
    python live_predictions.py take.wav                    # then predict it

Records mono at SAMPLE_RATE (48 kHz) with sounddevice, and writes 16-bit PCM with wavio, to a
temp file renamed into place. Ctrl-C (or Enter) stops early and keeps what was recorded. Warns when
the take is silent or clipping. If the device stops delivering audio (unplugged) the take so far
is saved and the exit status is 3; if the output cannot be written, the take goes to the system's
temp folder, the message says where, and the exit status is 4. No input device: exit status 2.
"""

import argparse
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

import devices

# Capture rate in Hz and channel count (mono; live_predictions.py resamples to 16 kHz itself).
SAMPLE_RATE = 48000
CHANNELS = 1
# Seconds to record when no --seconds is given; 0 records until Enter or Ctrl-C.
DURATION = 5.0
# Where takes go when no --out is given, named recording-<date>-<time>.wav.
OUT_DIR = Path("examples")
# Input device: None for the system default, or an index or part of a name (see --list).
DEVICE = None
# Frames per callback block (0 lets PortAudio choose).
BLOCKSIZE = 0
# Seconds to wait for the first audio after opening the device (PulseAudio takes about 2 s).
START_TIMEOUT = 10.0
# A device that sends nothing for this many seconds once started is treated as gone.
STALL_SECONDS = 2.0


class DeviceLost(RuntimeError):
    """The input device stopped delivering audio mid-take."""


def record(device, seconds, *, rate=SAMPLE_RATE, on_ready=None, stop=None):
    """Record mono float32 audio from device (a dict from devices.pick_input).

    seconds > 0 stops after that many seconds; ``stop`` (a threading.Event) stops early, and so does
    Ctrl-C. Returns (audio (n,) float32, overflows, error or None): error is a DeviceLost when the
    device stopped, with the audio up to then. ``on_ready()`` is called once audio flows.
    """
    sd = devices.sounddevice()
    stop = stop or threading.Event()
    chunks, state = [], {"frames": 0, "last": None, "overflows": 0}
    target = int(round(seconds * rate)) if seconds > 0 else None
    first = threading.Event()

    def callback(indata, frames, time_info, status):
        if status.input_overflow:
            state["overflows"] += 1
        chunks.append(indata[:, 0].copy())
        state["frames"] += frames
        state["last"] = time.monotonic()
        first.set()
        if target is not None and state["frames"] >= target:
            stop.set()

    error = None
    try:
        stream = sd.InputStream(device=device["index"], samplerate=rate, channels=CHANNELS,
                                dtype="float32", blocksize=BLOCKSIZE, callback=callback)
    except (sd.PortAudioError, ValueError) as err:
        raise devices.DeviceError(f"cannot open input device {device['index']} ({device['name']}) "
                                  f"at {rate} Hz: {err}") from None
    try:
        with stream:
            if not first.wait(START_TIMEOUT):
                raise devices.DeviceError(f"input device {device['index']} ({device['name']}) sent no "
                                          f"audio in {START_TIMEOUT:.0f} s")
            if on_ready:
                on_ready()
            while not stop.wait(0.05):
                if time.monotonic() - state["last"] > STALL_SECONDS or not stream.active:
                    error = DeviceLost(f"input device {device['index']} ({device['name']}) stopped "
                                       f"delivering audio after {state['frames'] / rate:.1f} s")
                    break
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as err:  # closing a device that has gone away
        error = error or DeviceLost(f"input device {device['index']} ({device['name']}) failed: {err}")
    y = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if target is not None:
        y = y[:target]
    return y, state["overflows"], error


def stop_on_enter(stop):
    """Set stop when a line (Enter) arrives on stdin; a closed or empty stdin changes nothing."""
    try:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):
        return
    if line:
        stop.set()


def default_out():
    return OUT_DIR / f"recording-{datetime.now():%Y%m%d-%H%M%S}.wav"


def play(path):
    """Play a WAV file with playsound3; returns an error message or None."""
    try:
        from playsound3 import playsound
        playsound(path, block=True)
    except Exception as err:  # playsound3 raises its own PlaysoundException and OSErrors
        return f"cannot play {path} back ({err}); install aplay (alsa-utils) or GStreamer"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=DURATION,
                        help=f"seconds to record, 0 = until Enter or Ctrl-C (default {DURATION})")
    parser.add_argument("--out", type=Path, help=f"WAV file to write (default {OUT_DIR}/recording-<time>.wav)")
    parser.add_argument("--device", default=DEVICE, help="input device index or part of its name")
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help=f"sample rate (default {SAMPLE_RATE})")
    parser.add_argument("--list", action="store_true", help="list input devices and exit")
    parser.add_argument("--play", action="store_true", help="play the take back after saving it")
    args = parser.parse_args(argv)
    if args.seconds < 0:
        parser.error("--seconds must be 0 (until Enter or Ctrl-C) or more")

    status, device = devices.list_or_pick_input(args.device, list_only=args.list)
    if status is not None:
        return status
    out = args.out or default_out()
    try:
        devices.check_writable(out.parent)
    except devices.SaveError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4

    stop = threading.Event()
    threading.Thread(target=stop_on_enter, args=(stop,), daemon=True).start()
    length = f"{args.seconds:g} s" if args.seconds else "until Enter or Ctrl-C"

    def ready():
        print(f"recording from {device['index']} ({device['name']}) at {args.rate} Hz, {length} "
              "(Enter or Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        y, overflows, lost = record(device, args.seconds, rate=args.rate, on_ready=ready, stop=stop)
    except devices.DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in devices.level_warnings(y):
        print(f"warning: {out}: {warning}", file=sys.stderr)
    if overflows:
        print(f"warning: {overflows} input overflow(s): some audio was dropped", file=sys.stderr)
    try:
        devices.save_wav(out, y, args.rate)
    except devices.SaveError as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    print(f"{out}  ({len(y) / args.rate:.2f} s, {args.rate} Hz)", flush=True)
    if lost:
        print(f"error: {lost}; the take so far is saved in {out}", file=sys.stderr)
        return 3
    if args.play:
        problem = play(out)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    devices.run_main(main)
