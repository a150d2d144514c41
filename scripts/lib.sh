# Shared by scripts/*: where things are, and how to get a configured, built tree.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${PROMPT_BUILD_DIR:-$ROOT/build}"
# Touched by every successful build_tree, with the time that build started: a source newer
# than it may not be in the build. (The binaries' own times say nothing of this: a change
# to the module alone does not relink bin/prompt.)
BUILD_STAMP="$BUILD_DIR/.last-good-build"

# Installs what is missing, configures (once) and builds. Extra arguments go to cmake's
# configure step. Build output goes to stderr so a command's stdout stays clean.
build_tree() {
  "$ROOT/scripts/bootstrap" >&2
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  mkdir -p "$BUILD_DIR"
  touch "$BUILD_STAMP.started"  # a file saved during the build is newer than this
  cmake -S "$ROOT" -B "$BUILD_DIR" "${launcher[@]}" "$@" >&2
  cmake --build "$BUILD_DIR" -j "$(nproc 2>/dev/null || echo 2)" >&2
  mv -f "$BUILD_STAMP.started" "$BUILD_STAMP"
}
