#!/usr/bin/env bash
# Installs the third-party JavaScript the bidder page serves (sm-crypto's browser build, pinned in
# browser/package-lock.json) from the npm registry into browser/node_modules; never committed.
# Idempotent: does nothing when it is there. Installs Node and npm with apt when missing and we may.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f browser/node_modules/sm-crypto/dist/sm2.js ] && exit 0
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || { sudo -n true 2>/dev/null && SUDO="sudo"; } || true
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    echo "install-browser-js: installing nodejs npm"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  else
    echo "install-browser-js: npm is missing; install Node.js and npm, then run $0 again" >&2
    exit 2
  fi
fi
npm ci --prefix browser --no-audit --no-fund --loglevel=error
echo "install-browser-js: sm-crypto $(node -p 'require("./browser/node_modules/sm-crypto/package.json").version') in browser/node_modules"
