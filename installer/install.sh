#!/usr/bin/env bash
# Install (or remove) the X2 Studio bundle and its desktop entry.
#
#   sudo bash install.sh [BUNDLE]                  system-wide: /opt/x2studio, /usr/local/bin/x2studio,
#                                                  /usr/local/share/applications, the hicolor icon theme
#   bash install.sh --user [BUNDLE]                for this user: ~/.local/opt/x2studio, ~/.local/bin, ~/.local/share
#   bash install.sh --prefix DIR [BUNDLE]          under DIR (DIR/opt/x2studio, DIR/bin, DIR/share)
#   bash install.sh --uninstall [--user | --prefix DIR]
#
# BUNDLE is the built folder (dist/x2studio from installer/build.sh); by default the folder this script
# is in when it ships inside the bundle, else dist/x2studio beside it.  A new version replaces the old
# one whole (copied beside it first, then swapped), so a failed copy leaves the old install working.
set -euo pipefail

log() { printf '[x2studio install] %s\n' "$*" >&2; }
die() { printf '[x2studio install] error: %s\n' "$*" >&2; exit 1; }

mode=install; prefix=""; user=0; bundle=""
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) mode=uninstall ;;
    --user) user=1 ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) bundle="$1" ;;
  esac
  shift
done

if [ -n "$prefix" ]; then
  share="$prefix/share"; bindir="$prefix/bin"; appdir="$prefix/opt/x2studio"
elif [ "$user" = 1 ]; then
  share="${XDG_DATA_HOME:-$HOME/.local/share}"; bindir="$HOME/.local/bin"; appdir="$HOME/.local/opt/x2studio"
else
  [ "$(id -u)" = 0 ] || die "a system-wide install needs root (sudo), or use --user / --prefix DIR"
  share="/usr/local/share"; bindir="/usr/local/bin"; appdir="/opt/x2studio"
fi
desktop="$share/applications/x2studio.desktop"
icon="$share/icons/hicolor/256x256/apps/x2studio.png"

refresh() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" 2>/dev/null || true
}

if [ "$mode" = uninstall ]; then
  [ -e "$appdir/x2studio" ] || [ -e "$desktop" ] || die "X2 Studio is not installed under $appdir"
  rm -rf "$appdir"
  [ -L "$bindir/x2studio" ] && rm -f "$bindir/x2studio"
  rm -f "$desktop" "$icon"
  refresh
  log "removed X2 Studio from $appdir (your settings, weights and data in your home folder are kept)"
  exit 0
fi

if [ -z "$bundle" ]; then
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ -x "$here/x2studio" ] && [ -d "$here/_internal" ]; then bundle="$here"
  elif [ -d "$here/../dist/x2studio" ]; then bundle="$here/../dist/x2studio"
  else die "no bundle given, and none found next to this script (build one: bash installer/build.sh)"; fi
fi
bundle="$(cd "$bundle" && pwd)"
[ -x "$bundle/x2studio" ] && [ -d "$bundle/_internal" ] || die "'$bundle' is not an X2 Studio bundle (no x2studio executable)"

mkdir -p "$(dirname "$appdir")" "$bindir" "$share/applications" "$(dirname "$icon")" \
  || die "cannot create folders under $(dirname "$appdir") (permissions?)"
if [ "$bundle" != "$appdir" ]; then
  log "copying $(du -sh "$bundle" | cut -f1) to $appdir"
  rm -rf "$appdir.new"
  cp -a "$bundle" "$appdir.new" || { rm -rf "$appdir.new"; die "copying failed (disk full?); nothing was changed"; }
  rm -rf "$appdir.old"
  [ -e "$appdir" ] && mv "$appdir" "$appdir.old"
  mv "$appdir.new" "$appdir"
  rm -rf "$appdir.old"
fi
ln -sfn "$appdir/x2studio" "$bindir/x2studio"
cp "$appdir/_internal/x2studio/resources/icons/x2studio.png" "$icon.part" && mv "$icon.part" "$icon"
template="$appdir/x2studio.desktop"
[ -f "$template" ] || die "the bundle has no x2studio.desktop"
sed "s|@APPDIR@|$appdir|g" "$template" > "$desktop.part" && chmod 644 "$desktop.part" && mv "$desktop.part" "$desktop"
refresh
log "installed: $appdir; command: $bindir/x2studio; menu entry: $desktop"
case ":$PATH:" in *":$bindir:"*) ;; *) log "note: $bindir is not on your PATH; start X2 Studio from the menu or $appdir/x2studio" ;; esac
