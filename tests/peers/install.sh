#!/usr/bin/env bash
# Install the third-party test peers (idempotent). Only the npm registry is contacted.
#   tests/peers/oidc_provider: npm `oidc-provider` 9.13.3, pinned by package-lock.json.
#   tests/peers/js_sdk: npm `@aws-sdk/client-qbusiness` 3.1050.0, pinned by package-lock.json.
# pysaml2 comes with the Python dev dependencies; it needs Debian's xmlsec1 (/usr/bin/xmlsec1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peer="$here/oidc_provider"

if ! command -v npm >/dev/null 2>&1; then
  echo "tests/peers/install.sh: npm is missing (Node 20+ is needed for the oidc-provider peer)" >&2
  exit 1
fi

# install_peer DIR PACKAGE LABEL: `npm ci` unless the lock file is unchanged since last time.
install_peer() {
  local dir="$1" package="$2" label="$3"
  local stamp="$dir/node_modules/.qbizfed-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -d "$dir/node_modules/$package" ]]; then
    echo "$label peer: already installed"
  else
    npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
    echo "$want" > "$stamp"
    echo "$label peer: installed"
  fi
}

install_peer "$peer" oidc-provider oidc-provider
install_peer "$here/js_sdk" @aws-sdk/client-qbusiness "AWS SDK for JavaScript (client-qbusiness)"

if [[ ! -x /usr/bin/xmlsec1 ]]; then
  echo "tests/peers/install.sh: /usr/bin/xmlsec1 is missing (apt-get install xmlsec1) - the pysaml2 peer needs it" >&2
fi
