// sm-crypto as an interop peer for baohan's tests: one command per stdin line (tab-separated),
// one answer per stdout line: "ok\t<result>" or "err\t<message>".
'use strict';
const readline = require('readline');
const { sm2, sm3, sm4 } = require('sm-crypto');

const bytes = (hex) => Array.from(Buffer.from(hex || '', 'hex'));
const hex = (arr) => Buffer.from(arr).toString('hex');
const b64ToHex = (text) => Buffer.from(text, 'base64').toString('hex');
const hexToB64 = (text) => Buffer.from(text, 'hex').toString('base64');

const commands = {
  // cipherMode 1 = C1C3C2, 0 = C1C2C3; sm-crypto's ciphertext is hex without the 04 prefix.
  encrypt: (mode, pub, msg) => sm2.doEncrypt(bytes(msg), pub, Number(mode)),
  decrypt: (mode, priv, ct) => {
    const out = sm2.doDecrypt(ct, priv, Number(mode), { output: 'array' });
    if (!out || (out.length === 0 && ct.length > 192)) throw new Error('decryption failed');
    return hex(out);
  },
  sign: (priv, pub, msg, der) =>
    sm2.doSignature(bytes(msg), priv, { hash: true, der: der === '1', publicKey: pub }),
  verify: (pub, msg, sig, der) =>
    String(sm2.doVerifySignature(bytes(msg), sig, pub, { hash: true, der: der === '1' })),
  pubkey: (priv) => sm2.getPublicKeyFromPrivateKey(priv),
  sm3: (msg) => sm3(bytes(msg)),
  hmac: (key, msg) => sm3(bytes(msg), { key: bytes(key) }),
  sm4enc: (mode, key, iv, msg) =>
    hex(sm4.encrypt(bytes(msg), key, { mode, iv: iv || undefined, padding: 'pkcs#7', output: 'array' })),
  sm4dec: (mode, key, iv, ct) =>
    hex(sm4.decrypt(bytes(ct), key, { mode, iv: iv || undefined, padding: 'pkcs#7', output: 'array' })),
  // The tender bidder page's recipe (PRODUCT.md "Tender wire defaults"): digitalenvelope is Base64 of
  // 04‖C1‖C3‖C2; sm-crypto takes hex without the 04 (an odd byte count past C1 and C3 means it is there)
  // and cipherMode 1; applydata is Base64 of SM4-ECB/PKCS#7 under that key, UTF-8 JSON inside.
  tenderopen: (priv, envelope, applydata) => {
    let sealed = b64ToHex(envelope);
    if ((sealed.length / 2 - 96) % 2 === 1) sealed = sealed.slice(2);
    const key = sm2.doDecrypt(sealed, priv, 1, { output: 'array' });
    if (key.length !== 16) throw new Error(`digitalenvelope holds ${key.length} bytes, not a 16-byte key`);
    return sm4.decrypt(b64ToHex(applydata), key, { mode: 'ecb' });
  },
  tenderseal: (pub, json) => {
    const key = require('crypto').randomBytes(16);
    const applydata = hexToB64(sm4.encrypt(json, key.toString('hex'), { mode: 'ecb' }));
    return `${hexToB64('04' + sm2.doEncrypt(Array.from(key), pub, 1))}\t${applydata}`;
  },
  // A sealed bid-section field (biaoduanno, ...): Base64 of SM4-ECB/PKCS#7 under the project key P (hex).
  tenderfield: (projectKey, sealed) => sm4.decrypt(b64ToHex(sealed), projectKey, { mode: 'ecb' }),
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  const [cmd, ...args] = line.split('\t');
  try {
    if (!commands[cmd]) throw new Error(`unknown command ${cmd}`);
    process.stdout.write(`ok\t${commands[cmd](...args)}\n`);
  } catch (e) {
    process.stdout.write(`err\t${String(e && e.message).replace(/\n/g, ' ')}\n`);
  }
});
