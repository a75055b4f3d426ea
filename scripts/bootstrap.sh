#!/usr/bin/env bash
# Install everything qbizfed's demo and tests need on a fresh Debian machine:
# Debian packages (when missing), the Python venv with pinned dependencies, and the
# npm packages of the third-party test peers. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(xmlsec1 redis-server chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "bootstrap: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.qbizfed-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[local,web,mcp,dev]'
  echo "$want" > "$stamp"
fi

if [ -x tests/peers/install.sh ]; then
  tests/peers/install.sh
fi
echo "bootstrap: ready"
