#!/bin/sh
# Add Inpaint Studio to the application menu of a Linux desktop, for the current user
# (freedesktop.org desktop entry + hicolor icons under ~/.local/share), and compile the default
# engine's kernels in the background (`inpaint-studio --warm-up`) so that the first fill is fast.
#
#   install-desktop-entry.sh [COMMAND]    install; COMMAND is the app to start (default: the
#                                         inpaint-studio beside this script, i.e. in a built app's
#                                         folder, else dist/inpaint-studio/inpaint-studio of the
#                                         source tree, else `inpaint-studio` on PATH)
#   install-desktop-entry.sh --uninstall  remove what it installed
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data_home/applications
icons=$data_home/icons/hicolor
sizes="16 24 32 48 64 128 256 512"

refresh() {
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" || true
}

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$apps/inpaint-studio.desktop" "$icons/scalable/apps/inpaint-studio.svg"
    for size in $sizes; do rm -f "$icons/${size}x${size}/apps/inpaint-studio.png"; done
    refresh
    echo "Removed the Inpaint Studio desktop entry and icons from $data_home"
    exit 0
fi

if [ $# -ge 1 ]; then
    command=$1
elif [ -x "$here/inpaint-studio" ]; then
    command=$here/inpaint-studio
elif [ -x "$here/../dist/inpaint-studio/inpaint-studio" ]; then
    command=$here/../dist/inpaint-studio/inpaint-studio
else
    command=$(command -v inpaint-studio || true)
fi
if [ -z "$command" ] || [ ! -x "$command" ]; then
    echo "install-desktop-entry.sh: no inpaint-studio command found; give its path as the argument" >&2
    exit 1
fi
command=$(cd "$(dirname "$command")" && pwd)/$(basename "$command")

# The entry and icons: in the source tree (resources/) or inside a built app (_internal/...).
for resources in "$here/../resources" "$(dirname "$command")/_internal/inpaint_studio/resources"; do
    [ -f "$resources/inpaint-studio.desktop" ] && break
done
if [ ! -f "$resources/inpaint-studio.desktop" ]; then
    echo "install-desktop-entry.sh: cannot find inpaint-studio.desktop next to $command or in the source tree" >&2
    exit 1
fi

mkdir -p "$apps"
# Exec and TryExec point at this command; the desktop entry spec wants a path with spaces quoted.
case $command in
    *" "*) exec_value="\"$command\"" ;;
    *) exec_value=$command ;;
esac
sed -e "s|^Exec=inpaint-studio|Exec=$exec_value|" -e "s|^TryExec=.*|TryExec=$command|" \
    "$resources/inpaint-studio.desktop" > "$apps/inpaint-studio.desktop"
chmod 644 "$apps/inpaint-studio.desktop"
for size in $sizes; do
    mkdir -p "$icons/${size}x${size}/apps"
    cp "$resources/icons/inpaint-studio-$size.png" "$icons/${size}x${size}/apps/inpaint-studio.png"
done
mkdir -p "$icons/scalable/apps"
cp "$resources/icons/inpaint-studio.svg" "$icons/scalable/apps/inpaint-studio.svg"
refresh
echo "Installed $apps/inpaint-studio.desktop (starts $command) and icons in $icons"

# Compile PatchMatch's kernels into numba's cache now, so that the first fill is as fast as later ones.
# numba keys that cache by this machine's CPU, so it cannot be made when the app is built. In the
# background at low priority (a few seconds), with no output to hold this script's caller waiting.
if command -v nice >/dev/null 2>&1; then
    nice -n 19 "$command" --warm-up >/dev/null 2>&1 </dev/null &
else
    "$command" --warm-up >/dev/null 2>&1 </dev/null &
fi
echo "Compiling the PatchMatch kernels in the background ($command --warm-up)"
