#!/usr/bin/env bash
# Build X2 Studio's Linux bundle (one folder, CPU and CUDA) and check that it starts.
#
#   bash installer/build.sh              build dist/x2studio/ and run its self-test (offscreen, venv hidden)
#   bash installer/build.sh --no-test    build only
#   bash installer/build.sh --archive    also pack dist/x2studio-<version>-linux-x86_64.tar.gz
#
# Uses the app's environment (installer/go.sh env) and PyInstaller pinned in installer/requirements-build.txt,
# installed beside it in build/pyinstaller-site (the environment itself is not changed).
# Then: sudo bash installer/install.sh dist/x2studio      (see installer/README.md)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
log() { printf '[x2studio build] %s\n' "$*" >&2; }
die() { printf '[x2studio build] error: %s\n' "$*" >&2; exit 1; }

test=1; archive=0
for a in "$@"; do
  case "$a" in
    --no-test) test=0 ;;
    --archive) archive=1 ;;
    *) die "unknown option '$a' (use --no-test, --archive)" ;;
  esac
done

venv="$(bash installer/go.sh env)" || die "the app's environment could not be set up"
py="$venv/bin/python"
site="$here/build/pyinstaller-site"
stamp="$site/.requirements-$(sha256sum installer/requirements-build.txt | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "installing PyInstaller into $site"
  rm -rf "$site"
  "$py" -m pip install -q --no-deps --target "$site" -r installer/requirements-build.txt 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' >&2 || true
  [ -f "$site/PyInstaller/__init__.py" ] || die "pip could not install PyInstaller (network?)"
  touch "$stamp"
fi

t0=$(date +%s)
log "building dist/x2studio (PyInstaller; a few minutes)"
rm -rf "$here/dist/x2studio.partial"
PYTHONPATH="$site" "$py" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$here/dist/x2studio.partial" --workpath "$here/build/pyinstaller" installer/x2studio.spec \
  || die "PyInstaller failed (see the messages above)"
rm -rf "$here/dist/x2studio"
mv "$here/dist/x2studio.partial/x2studio" "$here/dist/x2studio"
rm -rf "$here/dist/x2studio.partial"
install -m 644 installer/x2studio.desktop "$here/dist/x2studio/x2studio.desktop"
install -m 755 installer/install.sh "$here/dist/x2studio/install.sh"
t1=$(date +%s)
size="$(du -sh "$here/dist/x2studio" | cut -f1)"
log "built dist/x2studio in $((t1 - t0)) s: $size"

if [ "$test" = 1 ]; then
  # the bundle alone: no virtual environment, no source tree on the path, a fresh home
  home="$(mktemp -d)"
  trap 'rm -rf "$home"' EXIT
  log "self-test of the bundle (offscreen, fresh home, the environment out of reach)"
  (cd "$home" && env -i PATH=/usr/bin:/bin HOME="$home" X2STUDIO_HOME="$home/x2" QT_QPA_PLATFORM=offscreen \
      LANG=C.UTF-8 "$here/dist/x2studio/x2studio" app --self-test) \
    || die "the bundle's self-test failed"
  (cd "$home" && env -i PATH=/usr/bin:/bin HOME="$home" X2STUDIO_HOME="$home/x2" \
      "$here/dist/x2studio/x2studio" info --check) || die "the bundle's environment check failed"
fi

if [ "$archive" = 1 ]; then
  version="$("$py" -c 'import x2studio; print(x2studio.__version__)')"
  out="$here/dist/x2studio-$version-linux-$(uname -m).tar.gz"
  log "packing $out"
  tar -C "$here/dist" -czf "$out.part" x2studio && mv "$out.part" "$out"
  log "$(du -sh "$out" | cut -f1) $out"
fi
