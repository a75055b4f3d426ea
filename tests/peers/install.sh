#!/usr/bin/env bash
# Install the third-party test peers (idempotent). Only the npm registry is contacted.
#   tests/peers/oidc_provider: npm `oidc-provider` 9.13.3, pinned by package-lock.json.
# pysaml2 comes with the Python dev dependencies; it needs Debian's xmlsec1 (/usr/bin/xmlsec1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peer="$here/oidc_provider"

if ! command -v npm >/dev/null 2>&1; then
  echo "tests/peers/install.sh: npm is missing (Node 20+ is needed for the oidc-provider peer)" >&2
  exit 1
fi

stamp="$peer/node_modules/.qbizfed-lock.sha256"
want="$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$peer/node_modules/oidc-provider" ]]; then
  echo "oidc-provider peer: already installed"
else
  npm ci --prefix "$peer" --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
  echo "oidc-provider peer: installed"
fi

if [[ ! -x /usr/bin/xmlsec1 ]]; then
  echo "tests/peers/install.sh: /usr/bin/xmlsec1 is missing (apt-get install xmlsec1) - the pysaml2 peer needs it" >&2
fi
