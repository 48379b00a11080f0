"""Audio devices and takes, shared by recordaudio.py and streaming.py: find the input, check a take,
save it without ever leaving half a file.

    device = pick_input("pulse")              # {"index": 0, "name": "pulse", ...}; DeviceError if none
    warnings = level_warnings(y)              # ["silent: ..."] or ["clipping: ..."] or []
    path = save_wav(Path("examples/take.wav"), y, 48000)   # temp file, then rename
"""

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

# A take whose loudest sample is below this level (dBFS) is reported as silent.
SILENT_DBFS = -50.0
# A sample at or above this magnitude counts as clipped ...
CLIP_LEVEL = 0.999
# ... and a take with more than this share of clipped samples is reported as clipping.
CLIP_SHARE = 0.001
# Sample width of the WAV files written (bytes): 16-bit PCM, what every tool reads.
SAMPLE_WIDTH = 2


class DeviceError(RuntimeError):
    """No usable audio device; the message says which and what to do."""


class SaveError(OSError):
    """A take could not be written where asked; the message says where it was kept instead."""


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide what PortAudio and ALSA print straight to file descriptor 2 (their own diagnostics,
    such as "Expression ... failed" when a device goes away), keeping Python's sys.stderr.

    The scripts report every problem themselves in one line; this keeps that line the only one.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def run_main(main):
    """Run a script's main() with the native libraries' chatter hidden, and exit with its status.

    A Ctrl-C that main() does not handle itself exits with 130, and a reader that closes our output
    early (``... | head``) ends the script quietly with 141, as a shell tool killed by SIGPIPE does;
    neither prints a traceback.
    """
    with quiet_native_stderr():
        try:
            status = main()
        except KeyboardInterrupt:
            status = 130
        except BrokenPipeError:
            # Point stdout at /dev/null so that the interpreter's final flush does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            status = 141
    sys.exit(status)


def sounddevice():
    """The sounddevice module; DeviceError when the PortAudio library is missing."""
    try:
        import sounddevice as sd
    except OSError as err:  # raised at import when libportaudio2 is not installed
        raise DeviceError(f"PortAudio is not available ({err}); install it with `bash setup.sh`") from None
    return sd


def input_devices():
    """Every device with input channels: list of dicts (index, name, max_input_channels, ...)."""
    sd = sounddevice()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as err:
        raise DeviceError(f"cannot list audio devices ({err})") from None
    return [dict(d) for d in devices if d["max_input_channels"] > 0]


def pick_input(spec=None):
    """The input device named by spec: None (the default), an index, or part of a name.

    Returns the device dict; raises DeviceError naming the problem and the way out.
    """
    sd = sounddevice()
    inputs = input_devices()
    if not inputs:
        raise DeviceError("no audio input device found; connect a microphone (or start PulseAudio) "
                          "and list devices with --list")
    if spec is None or spec == "":
        default = sd.default.device[0]
        chosen = [d for d in inputs if d["index"] == default] or inputs[:1]
        return chosen[0]
    if str(spec).isdigit():
        chosen = [d for d in inputs if d["index"] == int(spec)]
    else:
        chosen = [d for d in inputs if str(spec).lower() in d["name"].lower()]
    if not chosen:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in inputs)
        raise DeviceError(f"no input device {spec!r}; inputs are {names}")
    return chosen[0]


def describe_inputs():
    """Lines listing the input devices, the default marked with '*'."""
    sd = sounddevice()
    default = sd.default.device[0]
    return [f"{'*' if d['index'] == default else ' '} {d['index']:>3}  {d['name']}  "
            f"({d['max_input_channels']} in, default {d['default_samplerate']:.0f} Hz)"
            for d in input_devices()]


def list_or_pick_input(spec, *, list_only=False):
    """The --list and --device options of the live scripts: (exit status or None, device dict).

    With list_only, prints the input devices and returns (0, None). Otherwise returns (None, the
    device picked by ``spec``), or prints the one-line error and returns (2, None).
    """
    try:
        if list_only:
            print("\n".join(describe_inputs()) or "no input devices")
            return 0, None
        return None, pick_input(spec)
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2, None


def level_warnings(y):
    """Warnings about a take y (float in [-1, 1]): silent, or clipping. List of strings, maybe empty."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return ["silent: nothing was recorded"]
    peak = float(np.max(np.abs(y)))
    if peak == 0 or 20 * np.log10(peak) < SILENT_DBFS:
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        return [f"silent: the loudest sample is {level} dBFS; check the input device and its volume"]
    clipped = float(np.mean(np.abs(y) >= CLIP_LEVEL))
    if clipped > CLIP_SHARE:
        return [f"clipping: {clipped:.1%} of samples at full scale; move back or lower the input volume"]
    return []


def check_writable(folder):
    """Raise SaveError (one clear line) unless a file can be created in folder (made if missing)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise SaveError(f"{folder}: cannot write there ({err.strerror or err})") from None


def _write_wav(path, y, rate):
    import wavio
    y = np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0)
    wavio.write(str(path), y, rate, sampwidth=SAMPLE_WIDTH, scale=1.0, clip="ignore")


def save_wav(path, y, rate):
    """Write y (float, mono) as a 16-bit WAV at path with wavio: a temp file beside it, then rename.

    When that fails (full disk, folder gone or read-only), nothing is left at path and the take is
    written to the system's temp folder instead; SaveError says where. Returns the path written.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".wav")
        os.close(fd)
        _write_wav(tmp, y, rate)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return path
    except OSError as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        try:
            fallback = rescue_path(path)
            _write_wav(fallback, y, rate)
        except OSError as again:
            raise SaveError(f"{path}: cannot write ({err.strerror or err}), nor in the temp folder "
                            f"({again.strerror or again}); the take is lost") from None
        raise SaveError(f"{path}: cannot write ({err.strerror or err}); the {len(y) / rate:.1f} s "
                        f"recorded were saved to {fallback} instead") from None


class WavAppender:
    """A 16-bit mono WAV file written a block at a time, for sessions of unknown length.

    Written to a temp file beside ``path`` and renamed there by ``close``; its header always matches
    the samples written, so after an error (a full disk) ``close`` still leaves a valid file holding
    everything written up to the error. ``error`` holds that OSError.
    """

    HEADER = 44

    def __init__(self, path, rate):
        self.path, self.rate = Path(path), int(rate)
        self.frames, self.error = 0, None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".wav")
        self.fd = fd
        try:
            self._write_all(self._header())
        except OSError:
            os.close(fd)
            os.unlink(self.tmp)
            raise

    def _header(self):
        import struct
        data = self.frames * 2
        return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " +
                struct.pack("<IHHIIHH", 16, 1, 1, self.rate, self.rate * 2, 2, 16) +
                b"data" + struct.pack("<I", data))

    def _write_all(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def append(self, y):
        """Append float samples in [-1, 1]; after an OSError, records it and ignores further blocks."""
        if self.error is not None or len(y) == 0:
            return
        pcm = (np.clip(np.asarray(y, dtype=np.float32), -1, 1) * 32767).astype("<i2").tobytes()
        try:
            self._write_all(pcm)
            self.frames += len(y)
        except OSError as err:
            self.error = err

    def close(self):
        """Fix the header, drop any partly written block, rename into place. Returns the path."""
        try:
            os.ftruncate(self.fd, self.HEADER + 2 * self.frames)
            os.pwrite(self.fd, self._header(), 0)
        finally:
            os.close(self.fd)
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)
        return self.path

    @property
    def seconds(self):
        return self.frames / self.rate


def rescue_path(path):
    """A new file in the system's temp folder to keep a take that could not be written at path."""
    fd, name = tempfile.mkstemp(prefix=f"{Path(path).stem}-", suffix=Path(path).suffix or ".wav")
    os.close(fd)
    return Path(name)
