"""Speech or no speech, and what was said: for audio files or the microphone, offline by default.

    python speech_text_translation.py examples/03-01-05-02-01-01-13.wav    # files: speech? words?
    python speech_text_translation.py --mic --seconds 5                      # the microphone
    python speech_text_translation.py clip.wav --emotion --speak both        # also the emotion; say both aloud
    python speech_text_translation.py clip.wav --speak text --speak-to said.wav   # speech into a file
    python speech_text_translation.py clip.wav --online                      # Google's web recognizer

The speech/no-speech decision is vad.py's, the same as live_predictions.py and streaming.py:
audio without speech is reported as "no speech" and never transcribed or given an emotion.
Transcription is offline with pocketsphinx (its bundled US English model) through
SpeechRecognition; --online uses Google's web recognizer instead, and a network failure is
reported as a network error (exit status 5), never as "no speech". --speak says the transcript
and/or the emotion with pyttsx3 (espeak-ng), aloud or, with --speak-to, into a WAV file.
The microphone is read with SpeechRecognition's Microphone (pyaudio).
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

import audio
import devices
import vad

# The recognizer used unless --online is given: "sphinx" (offline, pocketsphinx).
RECOGNIZER = "sphinx"
# Language of the online recognizer (the offline model is US English only).
LANGUAGE = "en-US"
# Seconds the online recognizer may take before it is reported as a network error.
ONLINE_TIMEOUT = 10.0
# Microphone: capture rate in Hz, seconds to record, and device (None: default; or an index).
MIC_RATE = 48000
MIC_SECONDS = 5.0
MIC_DEVICE = None
# Speaking rate of pyttsx3 in words per minute.
SPEAK_RATE = 170
# Seconds --speak-to waits for the speech engine's WAV file once the engine has finished.
SPEAK_FILE_TIMEOUT = 5.0
# The model folder written by neural_network.py (for --emotion and --speak emotion).
MODEL_DIR = Path("model")


class NetworkError(RuntimeError):
    """The online recognizer could not be reached (or answered with an error)."""


def word_error_rate(reference, hypothesis):
    """Word error rate: word-level edit distance (substitutions, insertions, deletions) over the
    number of reference words. Case and punctuation are ignored. Returns a float (may exceed 1)."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(len(hyp) > 0)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


def words(text):
    return re.findall(r"[a-z0-9']+", str(text).lower())


def audio_data(y, rate=audio.SAMPLE_RATE):
    """SpeechRecognition's AudioData of float mono audio y (16-bit PCM)."""
    import speech_recognition as sr
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()
    return sr.AudioData(pcm, rate, 2)


def transcribe(y, online=False, language=LANGUAGE):
    """Words in mono SAMPLE_RATE audio y: a string ("" if none recognised).

    Offline (pocketsphinx) unless online; raises NetworkError when the online recognizer cannot
    be reached, RuntimeError when pocketsphinx is missing.
    """
    import speech_recognition as sr
    recognizer = sr.Recognizer()
    data = audio_data(y)
    try:
        if online:
            recognizer.operation_timeout = ONLINE_TIMEOUT
            return recognizer.recognize_google(data, language=language)
        return recognizer.recognize_sphinx(data)
    except sr.UnknownValueError:
        return ""
    except sr.RequestError as err:
        if online:
            raise NetworkError(f"online recognizer: network error ({err})") from None
        raise RuntimeError(f"offline recognizer: {err}; install pocketsphinx with `bash setup.sh`") from None


def record_microphone(seconds, device=None, rate=MIC_RATE):
    """Record with SpeechRecognition's Microphone; returns mono SAMPLE_RATE float audio."""
    import speech_recognition as sr
    try:
        mic = sr.Microphone(device_index=device, sample_rate=rate)
        with mic as source:
            source.stream.read(source.CHUNK)      # returns once audio flows (PulseAudio takes ~2 s)
            print(f"listening for {seconds:g} s", file=sys.stderr, flush=True)
            data = sr.Recognizer().record(source, duration=seconds)
    except (OSError, AttributeError, AssertionError) as err:
        raise devices.DeviceError(f"cannot record from input device {device if device is not None else '(default)'}"
                                  f": {err}") from None
    pcm = np.frombuffer(data.get_raw_data(), dtype="<i2").astype(np.float32) / 32768
    return audio.to_mono_resampled(pcm, data.sample_rate)


def wait_for_espeak():
    """Return when espeak-ng has finished speaking. pyttsx3's espeak driver can leave its loop
    while espeak-ng still synthesises in its own thread, which then says or writes nothing if the
    process ends first (often on a busy machine). Other drivers finish within runAndWait."""
    try:
        from pyttsx3.drivers import _espeak
    except (ImportError, OSError, RuntimeError):  # no espeak-ng library: another driver spoke
        return
    _espeak.Synchronize()


def speak(text, to_file=None):
    """Say text with pyttsx3 (espeak-ng): aloud, or into the WAV file to_file.

    The file is written beside to_file and renamed to it once whole; RuntimeError (naming to_file)
    when the engine wrote no audio.
    """
    import contextlib
    import os
    import time

    import pyttsx3
    engine = pyttsx3.init()
    engine.setProperty("rate", SPEAK_RATE)
    tmp = None if to_file is None else Path(to_file).with_name(f".{Path(to_file).name}.{os.getpid()}.tmp")
    with contextlib.redirect_stdout(sys.stderr):      # pyttsx3 prints "Audio saved to ..."
        if tmp is not None:
            engine.save_to_file(text, str(tmp))
        else:
            engine.say(text)
        engine.runAndWait()
        wait_for_espeak()
    if tmp is None:
        return

    def written():  # more than the 44-byte WAV header
        return tmp.is_file() and tmp.stat().st_size > 44

    deadline = time.monotonic() + SPEAK_FILE_TIMEOUT
    while not written() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not written():
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{to_file}: the speech engine wrote no audio")
    os.replace(tmp, to_file)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="audio files (or --mic)")
    parser.add_argument("--mic", action="store_true", help="record from the microphone instead")
    parser.add_argument("--seconds", type=float, default=MIC_SECONDS, help="seconds to record with --mic")
    parser.add_argument("--device", type=int, default=MIC_DEVICE, help="microphone device index (see recordaudio.py --list)")
    parser.add_argument("--online", action="store_true", help="Google's web recognizer instead of pocketsphinx")
    parser.add_argument("--language", default=LANGUAGE, help="language of the online recognizer")
    parser.add_argument("--emotion", action="store_true", help="also predict the emotion")
    parser.add_argument("--speak", choices=("text", "emotion", "both"), help="say the transcript and/or emotion")
    parser.add_argument("--speak-to", type=Path, help="with --speak: write the speech to this WAV file")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model folder")
    args = parser.parse_args(argv)
    if not args.paths and not args.mic:
        parser.error("give audio files, or --mic")
    want_emotion = args.emotion or args.speak in ("emotion", "both")

    predictor = None
    if want_emotion:
        import model as model_lib
        try:
            predictor = model_lib.load(args.model_dir)
        except model_lib.ModelError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    inputs = [("microphone", None)] if args.mic else [(str(p), p) for p in args.paths]
    status = 0
    for name, path in inputs:
        try:
            y = record_microphone(args.seconds, args.device) if path is None else audio.load_audio(path)
        except (audio.AudioError, devices.DeviceError) as err:
            print(f"error: {err}", file=sys.stderr)
            status = max(status, 1 if path is not None else 2)
            continue
        decision = vad.detect(y)
        if not decision.speech:
            print(f"{name}: no speech", flush=True)
            continue
        try:
            text = transcribe(y, online=args.online, language=args.language)
        except NetworkError as err:
            print(f"error: {name}: {err}", file=sys.stderr)
            status = 5
            continue
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{name}: speech ({decision.voiced_seconds:.2f} s voiced)")
        print(f"  text: {text or '(no words recognised)'}")
        emotion = None
        if predictor is not None and len(y) >= audio.MIN_SECONDS * audio.SAMPLE_RATE:
            emotion, p = next(iter(predictor.predict_waveform(y, name).items()))
            print(f"  emotion: {emotion} ({p:.2f})")
        sys.stdout.flush()
        if args.speak:
            said = " ".join(s for s in ((text if args.speak in ("text", "both") else ""),
                                        (f"The emotion is {emotion}." if emotion and args.speak != "text" else ""))
                            if s)
            try:
                speak(said or "No words recognised.", args.speak_to)
            except (RuntimeError, OSError) as err:
                print(f"error: cannot speak ({err}); install espeak-ng with `bash setup.sh`", file=sys.stderr)
                status = max(status, 1)
    return status


if __name__ == "__main__":
    devices.run_main(main)
