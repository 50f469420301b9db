#!/usr/bin/env bash
# Set up composer on a Debian machine: system libraries through apt, Python packages in .venv.
#   bash scripts/setup.sh          everything for composing and rendering (adds the FluidR3 GM SoundFont)
#   bash scripts/setup.sh --test   what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: please install with apt: ${missing[*]}" >&2
    return 0
  fi
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# libfluidsynth3 for rendering; the fluidsynth command line for the render benchmark and its test;
# MuseScore 3 to print scores (`composer export --pdf`) and, in the tests, to read every score we write.
pkgs=(libfluidsynth3 fluidsynth musescore3)
# tmux for the test that drives the TUI in a real terminal.
[ "$mode" = "--test" ] && pkgs+=(tmux)
# The SoundFont shipped by Debian; without it composer falls back to the GM SoundFont inside pretty_midi.
[ "$mode" = "--test" ] || pkgs+=(fluid-soundfont-gm)
python3 -m venv --help >/dev/null 2>&1 || pkgs+=(python3-venv)
python3 -c "import ensurepip" >/dev/null 2>&1 || pkgs+=(python3-venv)
apt_install "${pkgs[@]}"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
py=.venv/bin/python
$py -m pip install -q --upgrade pip >/dev/null
# torch first and pinned, so that nothing pulls a CUDA build.
$py -m pip install -q "torch==2.13.0"
if [ "$mode" = "--test" ]; then
  $py -m pip install -q -e ".[test]"
else
  $py -m pip install -q -e .
fi
# basic-pitch only for the ONNX transcription model inside its wheel (audio.metrics runs it with onnxruntime):
# --no-deps keeps TensorFlow and its other heavy requirements out.
$py -m pip install -q --no-deps "basic-pitch==0.4.0"
echo "setup: ready ($($py -c 'import sys; print(sys.version.split()[0])'), .venv)"
