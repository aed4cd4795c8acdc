// The bidder page: opens the digital envelope and signs the agreement in this browser with sm-crypto
// (window.sm2, window.sm4). The private key is read from the page each time it is needed, used here,
// and never put in any request: the server gets K (hex) and the signed agreement only.
(function () {
  'use strict';

  var USER_ID = '1234567812345678'; // the GM default signer ID (GB/T 35276)
  var sealed = JSON.parse(document.getElementById('sealed').textContent);
  var base = window.location.pathname.replace(/\/+$/, '');
  var agreementBytes = null;

  function $(id) { return document.getElementById(id); }

  function show(id, visible) { $(id).hidden = !visible; }

  function say(id, message) {
    $(id).textContent = message || '';
    show(id, !!message);
  }

  function hexOfBinary(binary) {
    var hex = '';
    for (var i = 0; i < binary.length; i++) hex += ('0' + binary.charCodeAt(i).toString(16)).slice(-2);
    return hex;
  }

  function hexOfBase64(text, what) {
    try {
      return hexOfBinary(window.atob(text.replace(/\s+/g, '')));
    } catch (e) {
      throw new Error(what + ' is not Base64');
    }
  }

  function hexOfBytes(bytes) {
    var hex = '';
    for (var i = 0; i < bytes.length; i++) hex += ('0' + (bytes[i] & 0xff).toString(16)).slice(-2);
    return hex;
  }

  function base64OfHex(hex) {
    var binary = '';
    for (var i = 0; i < hex.length; i += 2) binary += String.fromCharCode(parseInt(hex.substr(i, 2), 16));
    return window.btoa(binary);
  }

  // 64 hex digits, or an unencrypted PEM key: PKCS#8 and SEC1 both hold an ECPrivateKey,
  // SEQUENCE { INTEGER 1, OCTET STRING (32 bytes) d, ... }, so d follows the bytes 02 01 01 04 20.
  function privateKeyHex() {
    var text = $('private-key').value.trim();
    if (!text) throw new Error('请先载入私钥 / Load your private key first.');
    var hex = text.replace(/^0x/i, '');
    if (/^[0-9a-fA-F]{64}$/.test(hex)) return checkedScalar(hex.toLowerCase());
    var pem = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
    if (!pem) {
      throw new Error('私钥应为 64 位十六进制或 PEM 文件 / The private key must be 64 hex digits or a PEM file.');
    }
    if (pem[1] === 'ENCRYPTED PRIVATE KEY') {
      throw new Error('此 PEM 私钥已加密，请先导出未加密的私钥 / This PEM key is encrypted; export it unencrypted first.');
    }
    if (['PRIVATE KEY', 'EC PRIVATE KEY', 'SM2 PRIVATE KEY'].indexOf(pem[1]) < 0) {
      throw new Error('PEM 文件中不是私钥 / The PEM file holds a ' + pem[1] + ', not a private key.');
    }
    var der = hexOfBase64(pem[2], 'The PEM key');
    for (var at = der.indexOf('0201010420'); at >= 0; at = der.indexOf('0201010420', at + 1)) {
      if (at % 2 === 0 && der.length >= at + 10 + 64) return checkedScalar(der.substr(at + 10, 64));
    }
    throw new Error('PEM 文件中没有 SM2 私钥 / No SM2 private key found in the PEM file.');
  }

  function checkedScalar(hex) {
    if (/^0+$/.test(hex)) throw new Error('私钥无效 / The private key is zero.');
    return hex;
  }

  // K from the envelope: C1C3C2 (our default) then C1C2C3; sm-crypto wants the ciphertext without 04.
  function openEnvelope(keyHex) {
    var text = sealed.digitalenvelope.trim();
    // Base64 by default; some platforms send the SM2 ciphertext as hex (a profile setting).
    var ciphertext = /^([0-9a-fA-F]{2})+$/.test(text) ? text.toLowerCase() : hexOfBase64(text, 'digitalenvelope').toLowerCase();
    var size = ciphertext.length / 2;
    if (ciphertext.substr(0, 2) === '04' && (size - 97 === 16 || size - 97 === 32)) ciphertext = ciphertext.substr(2);
    var key = [];
    for (var mode = 1; mode >= 0 && key.length === 0; mode--) {
      try {
        key = window.sm2.doDecrypt(ciphertext, keyHex, mode, { output: 'array' });
      } catch (e) {
        key = [];
      }
    }
    if (key.length === 0) {
      throw new Error('此私钥打不开数字信封（不是申请所用证书的私钥）/ This private key does not open the envelope: it is not the key of the certificate the application was sealed for.');
    }
    if (key.length === 32) {
      // Some platforms seal K as its 32 hex characters rather than the 16 bytes.
      var text = String.fromCharCode.apply(null, key);
      if (/^[0-9a-fA-F]{32}$/.test(text)) return text.toLowerCase();
    }
    if (key.length !== 16) throw new Error('数字信封中的密钥长度不对 / The envelope holds a ' + key.length + '-byte key, not 16.');
    return hexOfBytes(key);
  }

  function openApplication(kHex) {
    var plain;
    try {
      plain = window.sm4.decrypt(hexOfBase64(sealed.applydata, 'applydata'), kHex, { output: 'array' });
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(plain)));
    } catch (e) {
      throw new Error('申请数据无法解密 / applydata does not open with the envelope\'s key.');
    }
  }

  function showReadable(readable) {
    ['biddername', 'biddercode', 'bzjamount'].forEach(function (name) {
      $(name).textContent = readable[name] === undefined ? '' : String(readable[name]);
    });
    show('step-application', true);
  }

  async function post(path, body) {
    var response = await fetch(base + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin'
    });
    var answer = await response.json().catch(function () { return {}; });
    if (!response.ok) throw new Error(answer.message || ('HTTP ' + response.status));
    return answer;
  }

  async function loadAgreement() {
    var response = await fetch(base + '/agreement', { credentials: 'same-origin' });
    if (!response.ok) {
      var answer = await response.json().catch(function () { return {}; });
      throw new Error(answer.message || ('HTTP ' + response.status));
    }
    agreementBytes = new Uint8Array(await response.arrayBuffer());
    $('agreement').textContent = new TextDecoder('utf-8').decode(agreementBytes);
    show('step-sign', true);
  }

  async function accepted(view) {
    $('key-status').textContent = '服务器已确认 / The institution accepted the key.';
    showReadable(view.readable);
    await loadAgreement();
  }

  async function openClicked() {
    say('open-error', '');
    try {
      var kHex = openEnvelope(privateKeyHex());
      showReadable(openApplication(kHex));
      await accepted(await post('/key', { key: kHex }));
    } catch (e) {
      say('open-error', e.message);
    }
  }

  // K as `baohan bidder open` printed it on the bidder's own machine (its first line).
  async function keyPasted() {
    say('open-error', '');
    try {
      var kHex = $('key-hex').value.trim();
      if (!/^[0-9a-fA-F]{32}$/.test(kHex)) {
        throw new Error('K 应为 32 位十六进制 / K must be 32 hex digits (the first line `baohan bidder open` prints).');
      }
      await accepted(await post('/key', { key: kHex }));
    } catch (e) {
      say('open-error', e.message);
    }
  }

  function certificatePem() {
    var certificate = $('certificate').value.trim();
    if (!certificate) throw new Error('请提供投标人证书 / Give your bidder certificate (PEM).');
    return certificate;
  }

  async function submitSignature(certificate, signatureBase64) {
    await post('/signature', { certificate: certificate, signature: signatureBase64 });
    show('step-done', true);
    $('sign').disabled = true;
    $('submit-signature').disabled = true;
  }

  async function signClicked() {
    say('sign-error', '');
    try {
      var certificate = certificatePem();
      if (!agreementBytes) await loadAgreement();
      var signature = window.sm2.doSignature(Array.from(agreementBytes), privateKeyHex(), {
        hash: true, der: true, userId: USER_ID
      });
      await submitSignature(certificate, base64OfHex(signature));
    } catch (e) {
      say('sign-error', e.message);
    }
  }

  // The signature `baohan bidder sign` printed for the downloaded agreement.
  async function signaturePasted() {
    say('sign-error', '');
    try {
      var certificate = certificatePem();
      var signature = $('signature-text').value.trim();
      if (!signature) throw new Error('请粘贴签名 / Paste the signature `baohan bidder sign` printed.');
      await submitSignature(certificate, signature);
    } catch (e) {
      say('sign-error', e.message);
    }
  }

  function readInto(fileInput, textarea) {
    $(fileInput).addEventListener('change', function (event) {
      var file = event.target.files[0];
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () { $(textarea).value = String(reader.result); };
      reader.readAsText(file);
    });
  }

  readInto('private-key-file', 'private-key');
  readInto('certificate-file', 'certificate');
  $('open').addEventListener('click', openClicked);
  $('sign').addEventListener('click', signClicked);
  $('submit-key').addEventListener('click', keyPasted);
  $('submit-signature').addEventListener('click', signaturePasted);

  if (sealed.state !== 'sealed') {
    showReadable(sealed.readable);
    $('key-status').textContent = '服务器已确认 / The institution accepted the key.';
    loadAgreement().catch(function (e) { say('sign-error', e.message); });
  }
  if (sealed.state === 'signed') {
    show('step-done', true);
    $('sign').disabled = true;
    $('submit-signature').disabled = true;
  }
})();
