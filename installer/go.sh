#!/usr/bin/env bash
# X2 Studio set-up-and-go.  Usage:
#   bash installer/go.sh app  [ARGS...]   set up (first time) and start X2 Studio (or a CLI command)
#   bash installer/go.sh test [PYTEST ARGS...]   set up (first time) and run the test suite
#   bash installer/go.sh env               set up only; print the virtual environment's path
#
# Idempotent: Debian packages are installed only when missing; the virtual environment lives in
# ${X2STUDIO_VENV_ROOT:-~/.cache/x2studio}/venv-<key>, where <key> hashes the pinned dependency list
# (requirements/lock.txt, and nodeps.txt: packages installed without their declared dependencies), pyproject.toml's dependencies and the Python version, so a change of
# dependencies builds a new environment and an unchanged one is reused in seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-app}"; [ $# -gt 0 ] && shift

log() { printf '[x2studio setup] %s\n' "$*" >&2; }
die() { printf '[x2studio setup] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- Debian packages
# Runtime: PortAudio (sound output), FluidSynth + a General MIDI soundfont (synthesis), the X11/EGL
# libraries Qt's xcb platform needs on a desktop, Mesa's EGL/llvmpipe (the synthetic-face renderer)
# and espeak-ng (their speech).  Tests: Xvfb for screenshots.  Python 3.11+ with venv.
apt_runtime=(libportaudio2 libfluidsynth3 fluid-soundfont-gm espeak-ng libespeak-ng1
             libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
             libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
             libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0)
apt_test=(xvfb xauth)

need_py=1
pybin="${X2STUDIO_PYTHON:-}"
if [ -z "$pybin" ]; then
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      pybin="$(command -v "$c")"; need_py=0; break
    fi
  done
else
  need_py=0
fi

wanted=("${apt_runtime[@]}")
[ "$mode" = test ] && wanted+=("${apt_test[@]}")
[ $need_py = 1 ] && wanted+=(python3 python3-venv python3-pip)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2 || die "apt-get update failed"
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
      || die "could not install ${missing[*]}; install them by hand and run this again"
  fi
else
  log "not a Debian system: make sure PortAudio, FluidSynth and a General MIDI soundfont are installed"
fi
if [ -z "$pybin" ]; then
  pybin="$(command -v python3 || true)"
  [ -n "$pybin" ] && "$pybin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "X2 Studio needs Python 3.11 or newer with the venv module"
fi

# ---------------------------------------------------------------- virtual environment
key="$( { cat "$here/requirements/lock.txt" "$here/requirements/nodeps.txt"; sed -n '/^dependencies/,/^]/p;/^\[project.optional-dependencies\]/,/^\[project.scripts\]/p' "$here/pyproject.toml"; "$pybin" -c 'import sys, platform; print(sys.version, platform.machine())'; } | sha256sum | cut -c1-12)"
root="${X2STUDIO_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/x2studio}"
venv="$root/venv-$key"
if [ ! -f "$venv/.x2studio-complete" ]; then
  log "building the Python environment in $venv (first time: a few minutes)"
  rm -rf "$venv"; mkdir -p "$root"
  t0=$(date +%s)
  "$pybin" -m venv "$venv" || die "could not create a virtual environment with $pybin"
  quiet_pip() { "$venv/bin/python" -m pip "$@" 2>&1 | grep -v 'is ignored: it is neither a file nor a directory' >&2; return "${PIPESTATUS[0]}"; }
  quiet_pip install -q --upgrade pip || die "pip upgrade failed"
  quiet_pip install -q -r "$here/requirements/lock.txt" \
    || die "pip could not install requirements/lock.txt (network or disk?); run this again to retry"
  quiet_pip install -q --no-deps -r "$here/requirements/nodeps.txt" \
    || die "pip could not install requirements/nodeps.txt (network or disk?); run this again to retry"
  touch "$venv/.x2studio-complete"
  log "environment ready in $(( $(date +%s) - t0 )) s, $(du -sh "$venv" | cut -f1)"
  # Keep at most the three newest environments.
  ls -1dt "$root"/venv-* 2>/dev/null | tail -n +4 | while read -r old; do log "removing old $old"; rm -rf "$old"; done
fi
py="$venv/bin/python"
# Install this checkout (editable, no dependencies) when the environment points elsewhere.
if [ "$("$py" -c 'import x2studio, os; print(os.path.dirname(os.path.dirname(os.path.abspath(x2studio.__file__))))' 2>/dev/null)" != "$here" ] \
   || [ ! -x "$venv/bin/x2studio" ]; then
  pip_log="$(mktemp)"
  "$py" -m pip install -q --no-deps --no-build-isolation -e "$here" >"$pip_log" 2>&1 \
    || { cat "$pip_log" >&2; rm -f "$pip_log"; die "could not install X2 Studio from $here"; }
  rm -f "$pip_log"
fi

cd "$here"
case "$mode" in
  app)  exec "$py" -m x2studio "$@" ;;
  test) export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
        exec "$py" -m pytest "$@" ;;
  env)  echo "$venv" ;;
  *)    die "unknown mode '$mode' (use: app, test or env)" ;;
esac
