#!/usr/bin/env bash
# One entry point for a fresh machine: installs what umi-bench needs, then runs a job.
#   bash scripts/dev.sh demo [ARGS]   -> umi-bench demo (generated session, offline)
#   bash scripts/dev.sh test [ARGS]   -> the whole test suite
#   bash scripts/dev.sh setup         -> install only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=python3.11; command -v "$PY" >/dev/null || PY=python3

APT_LIBS="libgl1 libegl1 libopengl0 libsm6 libice6 libx11-6 libxext6 libosmesa6 libgles2"
APT_TEST="chromium chromium-driver"

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "[dev.sh] apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  local stamp="$VENV/.umi-bench-installed"
  local want; want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # torch first, pinned: the CPU build on local disk; anything unpinned would pull CUDA.
  if [ -d /opt/wheels ] && ls /opt/wheels/torch-2.13.0* >/dev/null 2>&1; then
    "$VENV/bin/pip" install -q --find-links /opt/wheels "torch==2.13.0"
  else
    "$VENV/bin/pip" install -q "torch==2.13.0"
  fi
  "$VENV/bin/pip" install -q -e ".[dev]"
  echo "$want" > "$stamp"
}

export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export RAY_USAGE_STATS_ENABLED=0

cmd="${1:-setup}"; shift || true
case "$cmd" in
  setup) apt_install $APT_LIBS $APT_TEST; python_env ;;
  demo)  apt_install $APT_LIBS; python_env; exec "$VENV/bin/umi-bench" demo "$@" ;;
  test)  apt_install $APT_LIBS $APT_TEST; python_env; exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: bash scripts/dev.sh setup|demo|test [ARGS]" >&2; exit 2 ;;
esac
