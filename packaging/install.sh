#!/usr/bin/env bash
# Install the unpacked LiftStudio bundle for one user (or under a PREFIX).
#
#   ./install.sh [--prefix DIR]      default DIR: ~/.local
#   ./install.sh --uninstall [--prefix DIR]
#
# Copies the bundle to DIR/lib/liftstudio, links DIR/bin/liftstudio to it, and puts the
# desktop entry (Exec pointing at DIR/bin/liftstudio), the AppStream metainfo and the
# icons under DIR/share, then refreshes the desktop and icon caches when their tools
# are installed. Run it from the unpacked liftstudio-<version> folder.
set -euo pipefail

ID=io.github.liftstudio.LiftStudio
SIZES="16 24 32 48 64 128 256 512"
PREFIX=$HOME/.local
UNINSTALL=0

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
            PREFIX=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$PREFIX" in /*) ;; *) PREFIX=$(pwd)/$PREFIX ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$PREFIX/lib/liftstudio
BIN=$PREFIX/bin/liftstudio
APPS=$PREFIX/share/applications
ICONS=$PREFIX/share/icons/hicolor

refresh_caches() {
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database -q "$APPS" || true
    fi
    if command -v gtk-update-icon-cache >/dev/null && [ -f "$ICONS/index.theme" ]; then
        gtk-update-icon-cache -q -t "$ICONS" || true
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    rm -rf "$LIB"
    [ -L "$BIN" ] && rm -f "$BIN"
    rm -f "$APPS/$ID.desktop" "$PREFIX/share/metainfo/$ID.metainfo.xml" \
        "$ICONS/scalable/apps/$ID.svg"
    for size in $SIZES; do rm -f "$ICONS/${size}x$size/apps/$ID.png"; done
    refresh_caches
    echo "LiftStudio removed from $PREFIX"
    exit 0
fi

if [ ! -x "$HERE/liftstudio/liftstudio" ] || [ ! -f "$HERE/share/applications/$ID.desktop" ]; then
    echo "install.sh: error: $HERE does not hold the unpacked bundle (liftstudio/liftstudio" \
        "and share/); unpack liftstudio-<version>-linux-x86_64.tar.gz and run its install.sh" >&2
    exit 1
fi

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$APPS" "$PREFIX/share/metainfo" "$ICONS/scalable/apps"
rm -rf "$LIB.new"
cp -a "$HERE/liftstudio" "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"
ln -sfn "$LIB/liftstudio" "$BIN"
sed "s|^Exec=liftstudio |Exec=$BIN |; s|^TryExec=liftstudio$|TryExec=$BIN|" \
    "$HERE/share/applications/$ID.desktop" >"$APPS/$ID.desktop"
cp "$HERE/share/metainfo/$ID.metainfo.xml" "$PREFIX/share/metainfo/"
cp "$HERE/share/icons/hicolor/scalable/apps/$ID.svg" "$ICONS/scalable/apps/"
for size in $SIZES; do
    mkdir -p "$ICONS/${size}x$size/apps"
    cp "$HERE/share/icons/hicolor/${size}x$size/apps/$ID.png" "$ICONS/${size}x$size/apps/"
done
refresh_caches
echo "LiftStudio installed: $BIN, menu entry $APPS/$ID.desktop"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: $PREFIX/bin is not on your PATH" ;; esac
