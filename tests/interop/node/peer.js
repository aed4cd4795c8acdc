// sm-crypto as an interop peer for baohan's tests: one command per stdin line (tab-separated),
// one answer per stdout line: "ok\t<result>" or "err\t<message>".
'use strict';
const readline = require('readline');
const { sm2, sm3, sm4 } = require('sm-crypto');

const bytes = (hex) => Array.from(Buffer.from(hex || '', 'hex'));
const hex = (arr) => Buffer.from(arr).toString('hex');

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
