#!/usr/bin/env bash
# One ELY101 built by hand, step by step, against a running sandbox:
#   baohan sandbox procurement --role issuer --port 8600 > sandbox.json &
#   bash docs/examples/ely101.sh sandbox.json
# 手工逐步构造一笔 ELY101（提交保函申请）并发往沙箱。Needs baohan, curl and python3 on PATH.
set -euo pipefail
SANDBOX=${1:-sandbox.json}
for _ in $(seq 100); do [ -s "$SANDBOX" ] && break; sleep 0.3; done   # the sandbox prints its line when ready
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$SANDBOX" "$1"; }
URL=$(field url)                       # …/zcdservice/v1/lg/ELYApi
APPID=$(field appid)                   # 平台分配的 appid / appkey / appsecret
APPKEY=$(field appkey)
APPSECRET=$(field appsecret)
SERVER_PUBLIC_KEY=$(field server_public_key)  # 出函机构的 SM2 公钥（04…）

# 1. The message: ELY101's fields as a JSON object, UTF-8, every value a string. 业务报文（明文 JSON）
MESSAGE='{"applicationId":"DOC-ELY101-0001","supplier":"示范建设工程有限公司","socialCreditCode":"91110108MA01DEMO1X","legalName":"张三","legalIdNo":"110101198001011234","performanceBond":"125000.00","contacts":"李四","contactsWay":"13800138000","contractCerNo":"110101199001011234","needPaper":"0","projectCode":"ZB-2026-DEMO","projectName":"示范市第一中学教学楼改造工程","bidCode":"ZB-2026-DEMO-01","bidName":"第一标段","purchaseNature":"工程类","bidDate":"20261101","bidAmount":"2500000.00","purchaseName":"示范市第一中学","purchaseSocCode":"12110000400000000X","guaranteeDate":"12"}'

# 2. data: SM2-encrypt the message for the receiver's public key, C1C3C2 with the 04 prefix, Base64.
#    data：用接收方 SM2 公钥加密（C1C3C2，带 04 前缀），Base64 编码
DATA=$(baohan gm sm2-encrypt --public-key "$SERVER_PUBLIC_KEY" --layout c1c3c2 --out base64 "$MESSAGE")

# 3. reqtime (Beijing time, yyyyMMddHHmmss) and a fresh msgcode (32 hex digits, a UUID without dashes).
#    reqtime 为北京时间；msgcode 为 32 位 UUID（不含横线），每笔请求唯一
REQTIME=$(TZ=Asia/Shanghai date +%Y%m%d%H%M%S)
MSGCODE=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')

# 4. sign = sm3(data&reqtime&appkey&appsecret), lowercase hex. 签名：SM3 摘要，小写十六进制
SIGN=$(baohan gm sm3 "${DATA}&${REQTIME}&${APPKEY}&${APPSECRET}")

# 5. The envelope, POSTed as JSON. 报文外层，以 JSON POST
BODY=$(printf '{"transcode":"ELY101","msgcode":"%s","appid":"%s","reqtime":"%s","version":"v1.0","data":"%s","sign":"%s"}' \
  "$MSGCODE" "$APPID" "$REQTIME" "$DATA" "$SIGN")
curl -sS -X POST "$URL" -H 'Content-Type: application/json' --data-binary "$BODY"
echo
# 6. The answer: {"code":"000","message":"成功"}; any other code is a refusal (see the table of codes).
#    应答：code 为 000 即受理成功；其他为错误码（见错误码表）
