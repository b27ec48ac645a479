# Sourced by tools/prism-patch.sh and tools/pstest-patch.sh.
#
# mirror_module TOOL MOD VER DEST PKG mirrors module MOD@VER from the
# read-only module cache into DEST as a tree of symlinks, with only the
# package directory PKG (relative to the module root) copied for real and
# writable, ready to patch. The module cache refuses writes and go refuses
# -overlay there, and //go:embed refuses symlinked files, hence the copy.
mirror_module() {
  local tool="$1" mod="$2" ver="$3" dest="$4" pkg="$5" src
  src="$(GOWORK=off go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
  [[ -d "$src" ]] || { echo "$tool: module $mod@$ver not in the module cache" >&2; return 1; }
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -rs "$src" "$dest"
  chmod -R u+w "$dest"
  rm -rf "${dest:?}/$pkg"
  cp -r "$src/$pkg" "$dest/$pkg"
  chmod -R u+w "$dest/$pkg"
}
