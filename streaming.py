"""Predict the emotion of whoever is speaking, live: one line per hop, or "no speech".

    python streaming.py                                    # default input, until Ctrl-C
    python streaming.py --number-of-times 20 --window 3 --hop 0.5
    python streaming.py --save-audio runs/session.wav --csv runs/session.csv
    python streaming.py --clip-alone                       # each window by itself: less work per hop
    python streaming.py --list                             # the input devices

An input-stream callback (sounddevice) copies the microphone into a ring buffer; the main thread
takes the last WINDOW seconds every HOP seconds, resamples them to 16 kHz (audio.py), asks vad.py
whether they hold speech, and only then asks the model. Each line: the end time of the window in
seconds from the start, the emotion smoothed over the last SMOOTH windows with speech, and its
probability; or "no speech". At the end (Ctrl-C, or NUMBER_OF_TIMES lines) a summary on stderr
counts input overflows (audio PortAudio had to drop) and the delay from the end of each window
to its printed line. Exit status: 0, 2 no input device or model, 3 the device went away, 4 an
output could not be written (what was written so far is kept).
"""

import argparse
import collections
import csv
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import audio
import devices
import vad

# Capture rate in Hz (mono); windows are resampled to audio.SAMPLE_RATE for the model.
SAMPLE_RATE = 48000
# Seconds of audio in each prediction window, and seconds between windows.
WINDOW = 3.0
HOP = 0.5
# Number of predictions before stopping (as in the seed); 0 = until Ctrl-C.
NUMBER_OF_TIMES = 0
# The printed emotion averages the probabilities of this many recent windows with speech.
SMOOTH = 3
# Input device: None for the system default, or an index or part of a name (see --list).
DEVICE = None
# The model folder written by neural_network.py.
MODEL_DIR = Path("model")
# Predict each window by itself (True), without the test-time noisy copy the shipped model averages
# in: about 30 % less time per hop, and less accurate on unseen voices (model.Predictor.clip_alone).
CLIP_ALONE = False
# Seconds the ring buffer holds beyond one window (how far prediction may fall behind).
BUFFER_SECONDS = 30.0
# Seconds to wait for the first audio after opening the device (PulseAudio takes about 2 s).
START_TIMEOUT = 10.0
# A device that sends nothing for this many seconds once started is treated as gone.
STALL_SECONDS = 2.0

CSV_FIELDS = ["window_end_s", "speech", "emotion", "probability", "window_emotion",
              "window_probability", "delay_s"]


class RingBuffer:
    """The last ``capacity`` samples of a mono stream, written by the audio callback, read by the
    main thread by absolute sample position. Remembers when each block arrived."""

    def __init__(self, capacity):
        self.data = np.zeros(capacity, np.float32)
        self.capacity = capacity
        self.total = 0                      # samples written since the start
        self.arrivals = collections.deque(maxlen=4096)   # (total after block, monotonic time)
        self.overflows = 0
        self.changed = threading.Condition()

    def write(self, block, overflow=False):
        n = len(block)
        if n > self.capacity:
            block, n = block[-self.capacity:], self.capacity
        with self.changed:
            start = self.total % self.capacity
            first = min(n, self.capacity - start)
            self.data[start:start + first] = block[:first]
            self.data[:n - first] = block[first:]
            self.total += len(block)
            self.overflows += bool(overflow)
            self.arrivals.append((self.total, time.monotonic()))
            self.changed.notify_all()

    def read(self, end, n):
        """Samples [end - n, end) as a new array; None if they are no longer (or not yet) held."""
        with self.changed:
            if end > self.total or end - n < self.total - self.capacity or end - n < 0:
                return None
            idx = np.arange(end - n, end) % self.capacity
            return self.data[idx]

    def arrival(self, position):
        """Monotonic time at which sample ``position`` arrived (that of its block)."""
        with self.changed:
            for total, when in self.arrivals:
                if total >= position:
                    return when
        return time.monotonic()


def smoothed(history, emotions):
    """(emotion, probability) from the mean of the recent windows' probabilities (dicts)."""
    mean = {e: float(np.mean([h[e] for h in history])) for e in emotions}
    top = max(mean, key=mean.get)
    return top, mean[top]


class CsvLog:
    """Prediction rows written as they come to a temp file, renamed into place by close()."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".csv")
        self.file = os.fdopen(fd, "w", newline="")
        self.writer = csv.DictWriter(self.file, CSV_FIELDS)
        self.error = None
        self.row({f: f for f in CSV_FIELDS}, header=True)

    def row(self, record, header=False):
        if self.error is not None:
            return
        try:
            (self.writer.writeheader() if header else self.writer.writerow(record))
            self.file.flush()
        except OSError as err:
            self.error = err

    def close(self):
        try:
            self.file.close()
        except OSError as err:
            self.error = self.error or err
        os.replace(self.tmp, self.path)
        return self.path


def stream(predictor, device, args, out=sys.stdout):
    """Run the session; returns (exit status, summary lines, error line or None)."""
    sd = devices.sounddevice()
    rate = args.rate
    win, hop = int(round(args.window * rate)), int(round(args.hop * rate))
    ring = RingBuffer(win + int(BUFFER_SECONDS * rate))
    first = threading.Event()

    def callback(indata, frames, time_info, status):
        ring.write(indata[:, 0], status.input_overflow)
        first.set()

    saver = devices.WavAppender(args.save_audio, rate) if args.save_audio else None
    log = CsvLog(args.csv) if args.csv else None
    saved_upto, history, delays, lines, speech_lines = 0, collections.deque(maxlen=args.smooth), [], 0, 0
    status, error = 0, None
    try:
        try:
            input_stream = sd.InputStream(device=device["index"], samplerate=rate, channels=1,
                                          dtype="float32", callback=callback)
        except (sd.PortAudioError, ValueError) as err:
            return 2, [], f"cannot open input device {device['index']} ({device['name']}) at {rate} Hz: {err}"
        with input_stream:
            if not first.wait(START_TIMEOUT):
                return 2, [], f"input device {device['index']} ({device['name']}) sent no audio in {START_TIMEOUT:.0f} s"
            print(f"listening on {device['index']} ({device['name']}) at {rate} Hz: {args.window:g} s windows "
                  f"every {args.hop:g} s (Ctrl-C stops)", file=sys.stderr, flush=True)
            next_end = win
            while args.number_of_times == 0 or lines < args.number_of_times:
                with ring.changed:
                    last_block = ring.arrivals[-1][1] if ring.arrivals else time.monotonic()
                    if ring.total < next_end:
                        ring.changed.wait(0.05)
                    ready = ring.total >= next_end
                total = ring.total
                if saver is not None and total > saved_upto:
                    block = ring.read(total, total - saved_upto)     # None: overwritten before saving
                    saver.append(block if block is not None else np.zeros(total - saved_upto, np.float32))
                    saved_upto = total
                    if saver.error is not None:
                        status, error = 4, (f"{args.save_audio}: {saver.error.strerror or saver.error} after "
                                            f"{saver.seconds:.1f} s; the audio up to then is saved there")
                        break
                if not ready:
                    if time.monotonic() - last_block > STALL_SECONDS or not input_stream.active:
                        status, error = 3, (f"input device {device['index']} ({device['name']}) stopped "
                                            f"delivering audio after {ring.total / rate:.1f} s")
                        break
                    continue
                if ring.total - next_end > ring.capacity - win:         # fell too far behind: skip ahead
                    next_end += (ring.total - next_end) // hop * hop
                window = ring.read(next_end, win)
                y = audio.to_mono_resampled(window, rate)
                probs = predictor.predict_waveform(y) if vad.is_speech(y) else None
                if probs is not None:
                    history.append(probs)
                    emotion, p = smoothed(history, predictor.emotions)
                    speech_lines += 1
                delay = time.monotonic() - ring.arrival(next_end)
                end_s = next_end / rate
                text = f"{end_s:8.2f} s  " + (f"{emotion:<10} {p:.2f}" if probs is not None else "no speech")
                print(text, file=out, flush=True)
                delays.append(delay)
                lines += 1
                if log is not None:
                    top = next(iter(probs)) if probs else ""
                    log.row({"window_end_s": f"{end_s:.3f}", "speech": int(probs is not None),
                             "emotion": emotion if probs else "", "probability": f"{p:.4f}" if probs else "",
                             "window_emotion": top, "window_probability": f"{probs[top]:.4f}" if probs else "",
                             "delay_s": f"{delay:.4f}"})
                    if log.error is not None:
                        status, error = 4, f"{args.csv}: {log.error.strerror or log.error}; rows so far are kept"
                        break
                next_end += hop
    except KeyboardInterrupt:
        pass
    except sd.PortAudioError as err:       # closing a device that has gone away
        status, error = 3, f"input device {device['index']} ({device['name']}) failed: {err}"
    finally:
        if saver is not None:
            total = ring.total
            if saved_upto < total and saver.error is None:
                block = ring.read(total, total - saved_upto)
                if block is not None:
                    saver.append(block)
            saver.close()
        if log is not None:
            log.close()
    ms = 1000 * np.array(delays) if delays else np.zeros(1)
    summary = [f"{lines} windows, {speech_lines} with speech, {ring.total / rate:.1f} s of audio",
               f"input overflows: {ring.overflows}" + (" (no audio dropped)" if ring.overflows == 0 else
                                                        " (audio was dropped)"),
               f"delay from window end to result: median {np.median(ms):.0f} ms, max {ms.max():.0f} ms"]
    if saver is not None:
        summary.append(f"session audio: {args.save_audio} ({saver.seconds:.1f} s)")
    if log is not None:
        summary.append(f"predictions: {args.csv}")
    return status, summary, error


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=WINDOW, help=f"seconds per window (default {WINDOW})")
    parser.add_argument("--hop", type=float, default=HOP, help=f"seconds between windows (default {HOP})")
    parser.add_argument("--number-of-times", type=int, default=NUMBER_OF_TIMES,
                        help="predictions before stopping; 0 = until Ctrl-C")
    parser.add_argument("--smooth", type=int, default=SMOOTH, help="windows the printed emotion averages")
    parser.add_argument("--device", default=DEVICE, help="input device index or part of its name")
    parser.add_argument("--rate", type=int, default=SAMPLE_RATE, help=f"capture rate (default {SAMPLE_RATE})")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model folder")
    parser.add_argument("--clip-alone", action="store_true", default=CLIP_ALONE,
                        help="predict each window by itself, without the model's test-time noisy copy (faster, less accurate)")
    parser.add_argument("--save-audio", type=Path, help="write the session's audio to this WAV file")
    parser.add_argument("--csv", type=Path, help="write one row per window to this CSV file")
    parser.add_argument("--list", action="store_true", help="list input devices and exit")
    args = parser.parse_args(argv)
    if args.window < audio.MIN_SECONDS or args.hop <= 0 or args.smooth < 1 or args.number_of_times < 0:
        parser.error(f"need --window >= {audio.MIN_SECONDS}, --hop > 0, --smooth >= 1, --number-of-times >= 0")

    status, device = devices.list_or_pick_input(args.device, list_only=args.list)
    if status is not None:
        return status
    for path in (args.save_audio, args.csv):
        if path is not None:
            try:
                devices.check_writable(path.parent)
            except devices.SaveError as err:
                print(f"error: {err}", file=sys.stderr)
                return 4
    import model as model_lib          # loads TensorFlow: after the cheap checks, before the stream
    try:
        predictor = model_lib.load(args.model_dir)
    except model_lib.ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.clip_alone:
        predictor.clip_alone()
    status, summary, error = stream(predictor, device, args)
    for line in summary:
        print(line, file=sys.stderr)
    if error:
        print(f"error: {error}", file=sys.stderr)
    return status


if __name__ == "__main__":
    devices.run_main(main)
