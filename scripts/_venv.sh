# Sourced by scripts/run and scripts/test: make sure .venv exists and holds this checkout.
# The install is redone only when pyproject.toml changes (a stamp file records its hash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is required" >&2; return 1
}
ensure_venv() {  # $1: pip extra spec, e.g. "." or ".[test]"
  local spec=$1
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $(pick_python)" >&2
    "$(pick_python)" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >&2
  fi
  local stamp=".venv/.installed-$(echo "$spec" | tr -c 'a-z' '_')"
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing $spec into .venv" >&2
    .venv/bin/python -m pip install -q -e "$spec" >&2
    echo "$want" > "$stamp"
  fi
}
