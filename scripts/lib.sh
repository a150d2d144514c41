# Shared by scripts/*: where things are, and how to get a configured, built tree.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${PROMPT_BUILD_DIR:-$ROOT/build}"

# Installs what is missing, configures (once) and builds. Extra arguments go to cmake's
# configure step. Build output goes to stderr so a command's stdout stays clean.
build_tree() {
  "$ROOT/scripts/bootstrap" >&2
  local launcher=()
  if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$ROOT" -B "$BUILD_DIR" "${launcher[@]}" "$@" >&2
  cmake --build "$BUILD_DIR" -j "$(nproc 2>/dev/null || echo 2)" >&2
}
