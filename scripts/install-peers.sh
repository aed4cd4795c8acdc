#!/usr/bin/env bash
# Installs the interoperability peers the tests run against: OpenSSL 3 CLI, Java 17 + Debian's
# BouncyCastle 1.72 jars, Node + sm-crypto (pinned in tests/interop/node/package-lock.json), the
# PostgreSQL server binaries for the integration tests, a CJK font for guarantee documents,
# systemd-analyze for the deployment units, and Debian's chromium for the bidder page's browser tests.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/bcprov.jar ] || missing+=(libbcprov-java)
[ -f /usr/share/java/bcpkix.jar ] || missing+=(libbcpkix-java)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fc-list 2>/dev/null | grep -qi "WenQuanYi Zen Hei" || missing+=(fonts-wqy-zenhei fontconfig)
command -v systemd-analyze >/dev/null || missing+=(systemd)  # verifies deploy/systemd units
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the bidder page's browser tests (Playwright drives it)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peers: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d tests/interop/node/node_modules/sm-crypto ]; then
  npm ci --prefix tests/interop/node --no-audit --no-fund --loglevel=error
fi
echo "install-peers: $(openssl version | cut -d' ' -f1-2), $(javac -version 2>&1), node $(node --version), bcprov $(ls /usr/share/java/bcprov-*.jar | sed 's/.*bcprov-//; s/.jar//')"
