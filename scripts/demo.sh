#!/usr/bin/env bash
# `make demo`: the GM crypto core driven through `baohan gm`, then the procurement protocol end to end
# (ELY101–ELY109 between our platform and our issuer), then the tender protocol (its fourteen interfaces
# between our tender platform and our tender issuer). Everything lands in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin/baohan

# The guarantee letter embeds a TrueType font with Chinese glyphs: $BAOHAN_FONT, else one fontconfig lists.
# Found by baohan's own lookup, so this check and the letter agree. Installed here when missing and we may.
font_problem() {
  .venv/bin/python -c 'from baohan.adapters.documents.fonts import FontNotFoundError, find_cjk_font
try: find_cjk_font()
except FontNotFoundError as exc: print(exc)'
}
problem=$(font_problem)
if [ -n "$problem" ] && [ -z "${BAOHAN_FONT:-}" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || { sudo -n true 2>/dev/null && SUDO="sudo"; } || true
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    if command -v apt-get >/dev/null; then
      echo "demo: installing fonts-wqy-zenhei (the letter's Chinese font)"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends fonts-wqy-zenhei fontconfig >/dev/null
    elif command -v dnf >/dev/null; then
      echo "demo: installing wqy-zenhei-fonts (the letter's Chinese font)"
      $SUDO dnf install -y -q wqy-zenhei-fonts fontconfig
    fi
    problem=$(font_problem)
  fi
fi
if [ -n "$problem" ]; then
  echo "demo: $problem" >&2
  exit 2
fi
OUT=demo-output/gm
rm -rf "$OUT" && mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "1. Generate an SM2 key pair (the platform's)" "baohan gm keygen --json"
PAIR=$($B gm keygen --json); echo "$PAIR"
PRIV=$(echo "$PAIR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["private_key"])')
PUB=$(echo "$PAIR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')

MSG='{"applicationId":"DEMO-0001","supplier":"某某建设有限公司","performanceBond":"125000.00"}'
step "2. Encrypt an ELY101-style message for it, layout C1C2C3 without the 04 prefix (as sm-crypto sends)" \
     "baohan gm sm2-encrypt --public-key \$PUB --layout c1c2c3 --no-prefix '$MSG'"
CT=$($B gm sm2-encrypt --public-key "$PUB" --layout c1c2c3 --no-prefix "$MSG"); echo "$CT"

step "3. Decrypt with --layout auto: the layout is found by the C3 digest" "baohan gm sm2-decrypt --private-key \$PRIV \$CT"
$B gm sm2-decrypt --private-key "$PRIV" "$CT"

step "4. Sign it (SM3withSM2, user ID 1234567812345678, DER, Base64)" "baohan gm sm2-sign --private-key \$PRIV '$MSG'"
SIG=$($B gm sm2-sign --private-key "$PRIV" "$MSG"); echo "$SIG"

step "5. Verify the signature, then a tampered message" "baohan gm sm2-verify --public-key \$PUB --signature \$SIG ..."
$B gm sm2-verify --public-key "$PUB" --signature "$SIG" "$MSG"
$B gm sm2-verify --public-key "$PUB" --signature "$SIG" "${MSG/125000/925000}" || echo "(exit $? for the tampered amount)"

step "6. The procurement sign: sm3(data&reqtime&appkey&appsecret)" "baohan gm sm3 \"\$CT&20261123120000&demo-appkey&demo-appsecret\""
$B gm sm3 "${CT}&20261123120000&demo-appkey&demo-appsecret"

step "7. Seal a guarantee file in a digital envelope (spec 000 §9.3.3) and open it" \
     "baohan gm envelope-seal --public-key \$PUB ... | baohan gm envelope-open --private-key \$PRIV -"
ENV=$($B gm envelope-seal --public-key "$PUB" '{"guaranteeFileName":"保函文件DEMO.pdf"}'); echo "$ENV"
echo "$ENV" | $B gm envelope-open --private-key "$PRIV" -

step "8. A test CA and a bidder certificate (SM3withSM2 over an SM2 key)" \
     "baohan gm cert make-ca ... && baohan gm cert issue ... && baohan gm cert verify ..."
$B gm cert make-ca --subject "CN=baohan Demo CA,O=baohan,C=CN" --out-cert "$OUT/ca.pem" --out-key "$OUT/ca-key.pem"
$B gm cert issue --ca-cert "$OUT/ca.pem" --ca-key "$OUT/ca-key.pem" --subject "CN=投标人甲建设有限公司,C=CN" \
   --out-cert "$OUT/bidder.pem" --out-key "$OUT/bidder-key.pem"
$B gm cert show "$OUT/bidder.pem"
$B gm cert verify "$OUT/bidder.pem" --ca-cert "$OUT/ca.pem"

step "9. Open an envelope sealed for the bidder's certificate (what the tender redirect page does)" \
     "baohan gm envelope-seal --public-key $OUT/bidder.pem ... | baohan gm envelope-open --private-key $OUT/bidder-key.pem -"
$B gm envelope-seal --public-key "$OUT/bidder.pem" '{"biddername":"投标人甲建设有限公司","bzjamount":"80000.00"}' \
  | $B gm envelope-open --private-key "$OUT/bidder-key.pem" -

printf '\nKeys and certificates are in %s/ (private keys mode 0600).\n' "$OUT"

step "10. The procurement protocol end to end: our platform and our issuer on loopback, SQLite, real HTTP" \
     "baohan demo procurement --out demo-output/procurement"
$B demo procurement --out demo-output/procurement

step "11. The tender protocol end to end: our tender platform and issuer on loopback, SQLite, real HTTP" \
     "baohan demo tender --out demo-output/tender"
$B demo tender --out demo-output/tender
