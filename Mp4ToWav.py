"""Take the audio track out of videos into WAV files that live_predictions.py predicts as they are.

    python Mp4ToWav.py clip.mp4                      # -> clip.wav beside it, at the video's own rate
    python Mp4ToWav.py videos/ --out wavs/           # every video in a folder (and its subfolders)
    python Mp4ToWav.py clip.mp4 --rate 16000         # resample while extracting
    python live_predictions.py clip.wav              # then predict it

Reads any video ffmpeg reads, through moviepy (whose imageio-ffmpeg package ships ffmpeg). Writes
16-bit PCM WAV with the source's channels, to a temp file renamed into place. A video without
an audio track, or a file that is not a video, gets one line naming it; the others are still
converted, and the exit status is 1.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

# File endings taken as videos when a folder is given.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
# Sample rate of the WAV files: None keeps the video's own audio rate.
RATE = None
# Folder for the WAV files: None writes each one beside its video.
OUT_DIR = None
# Sample format of the WAV files (soundfile subtype).
SUBTYPE = "PCM_16"


class VideoError(ValueError):
    """A video that has no usable audio; the message names it."""


def videos(paths):
    """(video, folder it was found under or None) for files as given and folders' videos, sorted."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += [(f, p) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS]
        else:
            found.append((p, None))
    return found


def extract(video, out, rate=RATE):
    """Write the audio of video to the WAV file out; returns (rate, channels, seconds)."""
    from moviepy import AudioFileClip
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos

    video = Path(video)
    if not video.is_file():
        raise VideoError(f"{video}: no such file")
    try:
        infos = ffmpeg_parse_infos(str(video))
    except (OSError, IndexError, KeyError, ValueError) as err:
        detail = str(err).strip().splitlines()[-1] if str(err).strip() else err.__class__.__name__
        raise VideoError(f"{video}: not a readable video ({detail[:120]})") from None
    if not infos.get("audio_found"):
        raise VideoError(f"{video}: has no audio track")
    rate = int(rate or infos.get("audio_fps") or 44100)
    clip = AudioFileClip(str(video), fps=rate)
    try:
        data = np.asarray(clip.to_soundarray(fps=rate), dtype=np.float32)
    finally:
        clip.close()
    if data.ndim == 1:
        data = data[:, None]
    import soundfile
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".wav")
    os.close(fd)
    try:
        soundfile.write(tmp, np.clip(data, -1, 1), rate, subtype=SUBTYPE, format="WAV")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return rate, data.shape[1], len(data) / rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="video files or folders")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the WAV files (default: beside each video)")
    parser.add_argument("--rate", type=int, default=RATE, help="sample rate (default: the video's own)")
    args = parser.parse_args(argv)

    todo = videos(args.paths)
    if not todo:
        print(f"error: no videos in {', '.join(map(str, args.paths))}", file=sys.stderr)
        return 1
    failed = 0
    for video, root in todo:
        rel = video.relative_to(root).with_suffix(".wav") if root else Path(video.with_suffix(".wav").name)
        out = (args.out / rel) if args.out else video.with_suffix(".wav")
        try:
            rate, channels, seconds = extract(video, out, args.rate)
        except VideoError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        except OSError as err:
            print(f"error: {out}: cannot write ({err.strerror or err})", file=sys.stderr)
            failed += 1
            continue
        print(f"{video} -> {out}  ({seconds:.2f} s, {rate} Hz, {channels} channel(s))", flush=True)
    if failed:
        print(f"{failed} of {len(todo)} video(s) could not be converted", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
