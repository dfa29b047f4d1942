/*
 * verify.js: checks a c2sp.org/tlog-proof@v1 receipt of the registry inside the browser.
 *
 * What it does, step by step (each shown as it passes or fails):
 *   1. parses the receipt strictly (the same rules as registry/receipts.py parse_receipt);
 *   2. parses the log verifier key "name+keyid+base64(0x01||pub)" and checks
 *      keyid = SHA-256(name || 0x0A || 0x01 || pub)[:4];
 *   3. verifies the checkpoint's Ed25519 signature line for that key name and ID over the
 *      note text, then checks the checkpoint's origin is the key name;
 *   4. computes the leaf hash SHA-256(0x00 || extra) and reads the leaf document;
 *   5. verifies the inclusion proof (RFC 9162 section 2.1.3.2 with the exact-length check)
 *      against the checkpoint's root;
 *   6. given the signer's public key, verifies the DSSE signature over
 *      PAE(payloadType, payload) of the envelope inside the leaf.
 *
 * Before WebCrypto sees a key or a signature, it applies the rules of registry/ed25519.py: a key
 * must be a canonical encoding of a point of prime order (not the identity or another of the 8
 * small-order points), and a signature needs S < L and an R that is canonical and not small-order.
 * WebCrypto, like OpenSSL, may accept the identity key, under which R = identity, S = 0 verifies
 * for every message.
 *
 * Once every step has passed, it says what the record claims in the words of `registry verify
 * receipt` (wording.js), naming organizations, Codes and the signer's role from the page's data
 * block when the receipt is of this registry's origin, and by the statement's slugs otherwise.
 * A page opened as /verify?index=N comes with that entry's receipt and checks it on load.
 *
 * What it does not do: it sends nothing anywhere (no fetch, no XHR, no form submission),
 * never writes HTML (textContent only), checks no witness cosignatures (they are ignored,
 * as C2SP allows for unknown keys), and does not guess: if the browser lacks WebCrypto or
 * Ed25519 it says so instead of giving an answer.
 */
'use strict';

(function () {
  const RECEIPT_HEADER = 'c2sp.org/tlog-proof@v1';
  const LEAF_FORMAT = 'hcoc-registry/leaf/v1';
  const PAYLOAD_TYPE = 'application/vnd.hcoc-registry.statement+json';
  const MAX_RECEIPT_BYTES = 1 << 20;
  const MAX_PROOF_HASHES = 63;
  const MAX_SIGNATURES = 100;
  const MAX_INT64 = (1n << 63n) - 1n;
  const HASH_SIZE = 32;
  const SIG_TYPE_ED25519 = 0x01;
  // RFC 8032 test vector 1: a valid Ed25519 public key, used only to probe for support.
  const PROBE_KEY = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';

  const STEPS = [
    ['parse', 'Receipt format'],
    ['key', 'Log verifier key'],
    ['checkpoint', 'Checkpoint signature'],
    ['leaf', 'Leaf hash'],
    ['inclusion', 'Inclusion proof'],
    ['statement', 'Statement signature'],
  ];

  /** A check that failed: the receipt (or key) is not valid. */
  class Failure extends Error {}
  /** This browser cannot perform a check; no verdict is given. */
  class Unsupported extends Error {}

  const encoder = new TextEncoder();
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  // --- bytes ----------------------------------------------------------------------------

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function b64encode(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  /** Standard, padded, canonical base64 only (one spelling per byte string). */
  function b64decode(text, what) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new Failure(`${what} is not valid base64`);
    }
    let binary;
    try { binary = atob(text); } catch (e) { throw new Failure(`${what} is not valid base64`); }
    const out = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    if (b64encode(out) !== text) throw new Failure(`${what} is not canonical base64`);
    return out;
  }

  function decodeUtf8(bytes, what) {
    try { return utf8.decode(bytes); } catch (e) { throw new Failure(`${what} is not valid UTF-8`); }
  }

  function findPair(bytes, from) {  // first "\n\n" at or after from
    for (let i = from; i + 1 < bytes.length; i++) if (bytes[i] === 10 && bytes[i + 1] === 10) return i;
    return -1;
  }

  function findLastPair(bytes) {  // last "\n\n"
    for (let i = bytes.length - 2; i >= 0; i--) if (bytes[i] === 10 && bytes[i + 1] === 10) return i;
    return -1;
  }

  function parseDecimal(text, what) {
    if (!/^(0|[1-9][0-9]{0,18})$/.test(text) || BigInt(text) > MAX_INT64) {
      throw new Failure(`${what} ${JSON.stringify(text.slice(0, 40))} is not a decimal in 0..2^63-1 without leading zeros`);
    }
    return BigInt(text);
  }

  function checkName(name, what) {
    if (!name || name.includes('+') || /[\u0000-\u001f]/.test(name) || /\s/u.test(name)) {
      throw new Failure(`${what} ${JSON.stringify(name.slice(0, 40))} is empty or has a space, '+' or a control character`);
    }
  }

  // --- crypto -----------------------------------------------------------------------------

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  }

  // --- weak keys and signatures (the rules of registry/ed25519.py) ---------------------------------

  const P = (1n << 255n) - 19n;
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const Y_MASK = (1n << 255n) - 1n;
  // y of the points of order 8 (the identity has y = 1, order 2 y = p - 1, order 4 y = 0);
  // registry/ed25519.py derives them and tests check them against libsodium's list.
  const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
  const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]);
  const NON_CANONICAL = 'is not a canonical encoding (its y is not below p = 2^255 − 19)';
  const SMALL_ORDER_KEY = 'is a small-order point: it would let anyone sign';

  function mod(n) { const r = n % P; return r < 0n ? r + P : r; }

  function power(base, exp) {
    let result = 1n;
    let b = mod(base);
    for (let e = exp; e > 0n; e >>= 1n) {
      if (e & 1n) result = result * b % P;
      b = b * b % P;
    }
    return result;
  }

  const D = mod(-121665n * power(121666n, P - 2n));
  const SQRT_M1 = power(2n, (P - 1n) / 4n);

  function littleEndian(bytes) {
    let n = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
    return n;
  }

  function sqrt(n) {  // p = 5 (mod 8): n^((p+3)/8) is a root of n or of -n
    let root = power(n, (P + 3n) / 8n);
    if (root * root % P !== n) root = root * SQRT_M1 % P;
    return root * root % P === n ? root : null;
  }

  // Extended coordinates [X, Y, Z, T]; the a = -1 addition law is complete, so it also doubles.
  function add([x1, y1, z1, t1], [x2, y2, z2, t2]) {
    const a = mod((y1 - x1) * (y2 - x2));
    const b = mod((y1 + x1) * (y2 + x2));
    const c = mod(2n * D * t1 * t2);
    const d = mod(2n * z1 * z2);
    const e = b - a, f = d - c, g = d + c, h = b + a;
    return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
  }

  function multiply(k, point) {
    let result = [0n, 1n, 1n, 0n];
    for (const bit of k.toString(2)) {
      result = add(result, result);
      if (bit === '1') result = add(result, point);
    }
    return result;
  }

  function isIdentity([x, y, z]) { return mod(x) === 0n && mod(y - z) === 0n; }

  /** null for an acceptable public key; otherwise what is wrong with it. */
  function publicKeyProblem(raw) {
    if (raw.length !== 32) return `has ${raw.length} bytes, not 32`;
    const n = littleEndian(raw);
    const y = n & Y_MASK;
    const sign = n >> 255n;
    if (y >= P) return NON_CANONICAL;
    const y2 = y * y % P;
    let x = sqrt(mod((y2 - 1n) * power(D * y2 + 1n, P - 2n)));
    if (x === null) return 'is not a point on the Ed25519 curve';
    if (x === 0n && sign === 1n) return 'is not a canonical encoding (x is 0 but its sign bit is set)';
    if ((x & 1n) !== sign) x = P - x;
    const point = [x, y, 1n, x * y % P];
    if (isIdentity(multiply(8n, point))) return SMALL_ORDER_KEY;
    if (!isIdentity(multiply(L, point))) return 'is not in the prime-order subgroup (it has a small-order component)';
    return null;
  }

  function yProblem(encoding, smallOrder) {  // the y alone: no square root, as for every signature
    const y = littleEndian(encoding) & Y_MASK;
    if (y >= P) return NON_CANONICAL;
    return SMALL_ORDER_Y.has(y) ? smallOrder : null;
  }

  /** null for a signature of acceptable shape; otherwise what is wrong with it. */
  function signatureProblem(signature, publicKey) {
    if (signature.length !== 64) return `the signature has ${signature.length} bytes, not 64`;
    if (littleEndian(signature.subarray(32)) >= L) {
      return 'the signature’s S is not below the group order L (a non-canonical, malleated signature)';
    }
    const r = yProblem(signature.subarray(0, 32), 'is a small-order point, the shape of a forged signature');
    if (r) return `the signature’s R ${r}`;
    const key = yProblem(publicKey, SMALL_ORDER_KEY);
    return key ? `the public key ${key}` : null;
  }

  async function ed25519Verify(publicKey, signature, message) {
    const problem = signatureProblem(signature, publicKey);
    if (problem) throw new Failure(problem);
    let key;
    try {
      key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      if (e && e.name === 'NotSupportedError') throw new Unsupported('this browser does not support Ed25519 in WebCrypto');
      throw new Failure(`the public key is not a valid Ed25519 key (${e && e.name})`);
    }
    if (signature.length !== 64) return false;
    return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  }

  /** null when this browser can check receipts; otherwise why not. */
  async function unsupportedReason() {
    if (!window.isSecureContext) return 'This page is not a secure context (HTTPS or localhost), so the browser offers no WebCrypto.';
    if (!window.crypto || !crypto.subtle) return 'This browser offers no WebCrypto (crypto.subtle).';
    if (typeof BigInt !== 'function') return 'This browser lacks BigInt, needed for 64-bit tree sizes.';
    try {
      await crypto.subtle.importKey('raw', b64decode(PROBE_KEY, 'probe'), { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      return 'This browser does not support Ed25519 signatures in WebCrypto, so it cannot check receipts. '
        + 'Use a current Chrome, Edge, Firefox or Safari, or the command line (see About).';
    }
    return null;
  }

  // --- step 1: the receipt ------------------------------------------------------------------

  function parseReceipt(bytes) {
    if (bytes.length > MAX_RECEIPT_BYTES) throw new Failure('the receipt is larger than 1 MiB');
    const end = findPair(bytes, 0);
    if (end < 0) throw new Failure('the receipt has no blank line before its checkpoint');
    const headBytes = bytes.subarray(0, end);
    if (headBytes.some((b) => b > 0x7f)) throw new Failure('the receipt has non-ASCII bytes before its checkpoint');
    const head = decodeUtf8(headBytes, 'receipt').split('\n');
    if (head[0] !== RECEIPT_HEADER) throw new Failure(`the receipt does not start with ${RECEIPT_HEADER}`);
    const rest = head.slice(1);
    let extra = null;
    if (rest.length && rest[0].startsWith('extra ')) {
      extra = b64decode(rest.shift().slice('extra '.length), 'the extra data');
      if (!extra.length) throw new Failure('the extra data is empty');
    }
    if (!rest.length || !rest[0].startsWith('index ')) throw new Failure('the receipt has no index line');
    const index = parseDecimal(rest[0].slice('index '.length), 'the index');
    const proofLines = rest.slice(1);
    if (proofLines.length > MAX_PROOF_HASHES) throw new Failure(`the proof has more than ${MAX_PROOF_HASHES} hashes`);
    const proof = proofLines.map((line, i) => {
      const h = b64decode(line, `proof hash ${i}`);
      if (h.length !== HASH_SIZE) throw new Failure(`proof hash ${i} has ${h.length} bytes, expected ${HASH_SIZE}`);
      return h;
    });
    const note = parseNote(bytes.subarray(end + 2));
    const checkpoint = parseCheckpointText(note.text);
    return { extra, index, proof, note, checkpoint };
  }

  function parseNote(bytes) {
    decodeUtf8(bytes, 'the checkpoint');
    if (bytes.some((b) => b < 0x20 && b !== 10)) throw new Failure('the checkpoint has a control character other than newline');
    const split = findLastPair(bytes);
    if (split < 0) throw new Failure('the checkpoint has no blank line before its signatures');
    const text = bytes.subarray(0, split + 1);
    const block = bytes.subarray(split + 2);
    if (!block.length || block[block.length - 1] !== 10) throw new Failure('the checkpoint does not end with a signature line (and a newline)');
    const lines = decodeUtf8(block.subarray(0, block.length - 1), 'the signatures').split('\n');
    if (lines.length > MAX_SIGNATURES) throw new Failure(`the checkpoint has more than ${MAX_SIGNATURES} signatures`);
    return { text, signatures: lines.map(parseSignatureLine) };
  }

  function parseSignatureLine(line) {
    if (!line.startsWith('\u2014 ')) throw new Failure('a signature line does not start with an em dash and a space');
    const rest = line.slice(2);
    const space = rest.indexOf(' ');
    if (space < 0) throw new Failure('a signature line has no space between key name and signature');
    const name = rest.slice(0, space);
    checkName(name, 'the signature key name');
    const raw = b64decode(rest.slice(space + 1), 'a signature');
    if (raw.length <= 4) throw new Failure('a signature is too short to hold a key ID and a signature');
    return { name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) };
  }

  function parseCheckpointText(bytes) {
    const text = decodeUtf8(bytes, 'the checkpoint text');
    if (!text.endsWith('\n')) throw new Failure('the checkpoint text does not end with a newline');
    const lines = text.slice(0, -1).split('\n');
    if (lines.length < 3) throw new Failure('the checkpoint needs origin, tree size and root hash lines');
    if (lines.some((l) => !l)) throw new Failure('the checkpoint has an empty line');
    const root = b64decode(lines[2], 'the root hash');
    if (root.length !== HASH_SIZE) throw new Failure(`the root hash has ${root.length} bytes, expected ${HASH_SIZE}`);
    return { origin: lines[0], size: parseDecimal(lines[1], 'the tree size'), root, extensions: lines.slice(3) };
  }

  // --- step 2: the verifier key ---------------------------------------------------------------

  async function parseVerifierKey(vkey) {
    const first = vkey.indexOf('+');
    const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
    if (first < 0 || second < 0) throw new Failure('the key is not of the form name+keyid+keydata');
    const name = vkey.slice(0, first);
    const idHex = vkey.slice(first + 1, second);
    checkName(name, 'the key name');
    if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Failure('the key ID is not 8 lowercase hex digits');
    const data = b64decode(vkey.slice(second + 1), 'the key data');
    if (data.length !== 33 || data[0] !== SIG_TYPE_ED25519) {
      throw new Failure('the key data is not an Ed25519 key (type 0x01 and 32 bytes)');
    }
    const publicKey = data.subarray(1);
    const weak = publicKeyProblem(publicKey);
    if (weak) throw new Failure(`the log key ${weak}`);
    const material = concat(encoder.encode(name), Uint8Array.of(0x0a, SIG_TYPE_ED25519), publicKey);
    const expected = hex((await sha256(material)).subarray(0, 4));
    if (expected !== idHex) throw new Failure(`the key ID ${idHex} does not match the name and key (expected ${expected})`);
    return { name, keyId: hexToBytes(idHex), idHex, publicKey };
  }

  function hexToBytes(text) {
    return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
  }

  // --- step 3: the checkpoint -------------------------------------------------------------------

  async function verifyCheckpoint(receipt, key) {
    const mine = receipt.note.signatures.filter((s) => s.name === key.name && equalBytes(s.keyId, key.keyId));
    if (!mine.length) throw new Failure(`the checkpoint carries no signature by ${key.name}+${key.idHex}`);
    // Like Go's note.Open: a known key's first line must verify; repeats of it are dropped.
    if (!(await ed25519Verify(key.publicKey, mine[0].signature, receipt.note.text))) {
      throw new Failure(`the signature by ${key.name}+${key.idHex} does not verify over the checkpoint text`);
    }
    if (receipt.checkpoint.origin !== key.name) {
      throw new Failure(`the checkpoint's origin ${JSON.stringify(receipt.checkpoint.origin)} is not the key name ${JSON.stringify(key.name)}`);
    }
    const others = receipt.note.signatures.length - mine.length;
    return `signed by ${key.name}+${key.idHex}: tree size ${receipt.checkpoint.size}, root ${b64encode(receipt.checkpoint.root)}`
      + (others ? ` (${others} other signature line${others === 1 ? '' : 's'} ignored)` : '');
  }

  // --- step 4: the leaf -------------------------------------------------------------------------

  function parseLeaf(extra) {
    let doc;
    try { doc = JSON.parse(decodeUtf8(extra, 'the entry')); } catch (e) {
      if (e instanceof Failure) throw e;
      throw new Failure('the entry is not JSON');
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Failure('the entry is not a JSON object');
    const members = Object.keys(doc).sort().join(',');
    if (members !== 'envelope,format,recorded_at') throw new Failure('the entry must have exactly envelope, format and recorded_at');
    if (doc.format !== LEAF_FORMAT) throw new Failure(`unknown entry format ${JSON.stringify(String(doc.format).slice(0, 60))}`);
    const env = doc.envelope;
    if (!env || typeof env !== 'object' || env.payloadType !== PAYLOAD_TYPE || !Array.isArray(env.signatures)
        || env.signatures.length !== 1 || typeof env.payload !== 'string') {
      throw new Failure('the entry does not hold a DSSE envelope with one signature');
    }
    const payload = b64decode(env.payload, 'the envelope payload');
    let statement;
    try { statement = JSON.parse(decodeUtf8(payload, 'the statement')); } catch (e) {
      if (e instanceof Failure) throw e;
      throw new Failure('the statement is not JSON');
    }
    return { recordedAt: String(doc.recorded_at), envelope: env, payload, statement };
  }

  // --- step 5: inclusion (RFC 9162 section 2.1.3.2) -------------------------------------------------

  function bitLength(n) { return n === 0n ? 0 : n.toString(2).length; }
  function popCount(n) { return n.toString(2).split('').filter((c) => c === '1').length; }

  async function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(0x01), left, right));
  }

  async function verifyInclusion(index, size, leafHash, proof, root) {
    if (index >= size) throw new Failure(`leaf index ${index} is outside a tree of size ${size}`);
    const inner = bitLength(index ^ (size - 1n));
    const expected = inner + popCount(index >> BigInt(inner));
    if (proof.length !== expected) {
      throw new Failure(`a proof for index ${index} in a tree of size ${size} has ${expected} hashes; this one has ${proof.length}`);
    }
    let fn = index;
    let sn = size - 1n;
    let r = leafHash;
    for (const p of proof) {
      if (sn === 0n) throw new Failure('the proof is longer than the path to the root');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Failure('the proof is shorter than the path to the root');
    if (!equalBytes(r, root)) {
      throw new Failure(`the proof leads to root ${b64encode(r)}, but the checkpoint's root is ${b64encode(root)}`);
    }
  }

  // --- step 6: the statement's DSSE signature -------------------------------------------------------

  function pae(payloadType, payload) {
    const type = encoder.encode(payloadType);
    return concat(encoder.encode(`DSSEv1 ${type.length} `), type, encoder.encode(` ${payload.length} `), payload);
  }

  async function verifyStatement(leaf, signerKeyText) {
    const publicKey = b64decode(signerKeyText, 'the signer key');
    if (publicKey.length !== 32) throw new Failure(`the signer key has ${publicKey.length} bytes, expected 32`);
    const weak = publicKeyProblem(publicKey);
    if (weak) throw new Failure(`the signer key ${weak}`);
    const entry = leaf.envelope.signatures[0] || {};
    const keyId = hex(await sha256(publicKey));
    if (entry.keyid !== keyId) {
      throw new Failure(`the statement was signed by key ${String(entry.keyid).slice(0, 16)}…, not by this key (${keyId.slice(0, 16)}…)`);
    }
    const sig = b64decode(String(entry.sig), 'the statement signature');
    if (!(await ed25519Verify(publicKey, sig, pae(leaf.envelope.payloadType, leaf.payload)))) {
      throw new Failure('the DSSE signature does not verify with this key');
    }
    return `signed by key ${keyId}`;
  }

  // --- the page -----------------------------------------------------------------------------------

  const form = document.getElementById('verify-form');
  const button = document.getElementById('verify-button');
  const receiptArea = document.getElementById('receipt');
  const fileInput = document.getElementById('receipt-file');
  const logKeyInput = document.getElementById('log-key');
  const signerInput = document.getElementById('signer-key');
  const verdict = document.getElementById('verdict');
  const stepsList = document.getElementById('steps');
  const entryBox = document.getElementById('entry');
  const entryJson = document.getElementById('entry-json');
  const support = document.getElementById('support');
  const claimBox = document.getElementById('claim');
  const claimText = document.getElementById('claim-text');
  const claimSource = document.getElementById('claim-source');
  const wordsBlock = document.getElementById('verify-words');
  if (!form) return;
  const words = wordsBlock ? JSON.parse(wordsBlock.textContent) : null;

  let fileBytes = null;  // the exact bytes of a chosen file; pasting text clears it

  function showVerdict(state, text) {
    verdict.dataset.state = state;
    verdict.textContent = text;
  }

  function addStep(id, name, state, detail) {
    const li = document.createElement('li');
    li.className = `step ${state}`;
    li.dataset.step = id;
    li.dataset.state = state;
    const mark = document.createElement('span');
    mark.className = 'step-mark';
    mark.setAttribute('aria-hidden', 'true');
    mark.textContent = { pass: '✓', fail: '✗', skip: '–', unsupported: '?' }[state];
    const label = document.createElement('span');
    label.className = 'step-name';
    const said = { pass: 'passed', fail: 'failed', skip: 'skipped', unsupported: 'not checked' }[state];
    label.textContent = `${name}: ${said}`;
    const text = document.createElement('span');
    text.className = 'step-detail';
    text.textContent = detail;
    li.append(mark, label, text);
    stepsList.append(li);
  }

  /** What the verified record claims: the same line `registry verify receipt` prints after "claim: ". */
  function showClaim(ctx) {
    const wording = window.hcocWording;
    const stmt = ctx.leaf.statement;
    const origin = ctx.receipt.checkpoint.origin;
    if (!wording || !stmt || typeof stmt !== 'object') return;
    if (stmt.registry !== origin) {  // never accepted by a registry of this origin: not ours to word
      claimText.textContent = '';
      claimSource.textContent = `The statement names another registry, ${wording.shown(stmt.registry)}, so it is not worded here.`;
      claimBox.hidden = false;
      return;
    }
    // This registry's names and key roles hold for its own log only; another log's receipt gets slugs.
    const ours = Boolean(words) && words.origin === origin;
    const names = wording.names(ours ? words.names : {}, words ? words.countries : {});
    const keyId = String(ctx.leaf.envelope.signatures[0].keyid);
    const roles = ours ? words.roles : {};
    const role = Object.prototype.hasOwnProperty.call(roles, keyId) ? roles[keyId] : null;
    let line;
    try {
      line = wording.receiptClaim(stmt, names, role, {
        index: ctx.receipt.index, size: ctx.receipt.checkpoint.size, keyId, keyChecked: Boolean(ctx.signer),
      });
    } catch (e) {
      return;  // a statement these words do not know how to say: the steps above still stand
    }
    claimText.textContent = wording.shown(line);
    claimSource.textContent = ours
      ? `Worded here from the verified statement. The names of organizations and Codes, and the signer’s role, are this registry’s own (${origin}), sent with this page.`
      : `This receipt is from another log (${origin}), so the statement is worded with its own slugs.`;
    claimBox.hidden = false;
  }

  async function run(focus = true) {
    stepsList.replaceChildren();
    entryBox.hidden = true;
    entryJson.textContent = '';
    claimBox.hidden = true;
    claimText.textContent = '';
    showVerdict('running', 'Checking…');
    let bytes;
    if (fileBytes) {
      bytes = fileBytes;
    } else {
      bytes = encoder.encode(receiptArea.value);
    }
    const ctx = { bytes, vkey: logKeyInput.value.trim(), signer: signerInput.value.trim() };
    const work = {
      parse: async () => {
        ctx.receipt = parseReceipt(ctx.bytes);
        const r = ctx.receipt;
        return `leaf ${r.index}, ${r.proof.length} proof hash${r.proof.length === 1 ? '' : 'es'}, checkpoint of tree size ${r.checkpoint.size}`
          + (fileBytes ? ' (read from the chosen file)' : '');
      },
      key: async () => {
        if (!ctx.vkey) throw new Failure('no log verifier key given');
        ctx.key = await parseVerifierKey(ctx.vkey);
        return `Ed25519 key ${ctx.key.name}+${ctx.key.idHex}`;
      },
      checkpoint: async () => verifyCheckpoint(ctx.receipt, ctx.key),
      leaf: async () => {
        if (!ctx.receipt.extra) throw new Failure('the receipt carries no entry (no extra line), so there is nothing to check it against');
        ctx.leafHash = await sha256(concat(Uint8Array.of(0x00), ctx.receipt.extra));
        ctx.leaf = parseLeaf(ctx.receipt.extra);
        const s = ctx.leaf.statement || {};
        return `${hex(ctx.leafHash)}: ${s.type}${s.org ? ` about ${s.org}` : ''}, recorded ${ctx.leaf.recordedAt}`;
      },
      inclusion: async () => {
        const r = ctx.receipt;
        await verifyInclusion(r.index, r.checkpoint.size, ctx.leafHash, r.proof, r.checkpoint.root);
        return `leaf ${r.index} is in the tree of size ${r.checkpoint.size} signed by the log`;
      },
      statement: async () => {
        if (!ctx.signer) return null;
        return verifyStatement(ctx.leaf, ctx.signer);
      },
    };
    let failed = null;
    let unsupported = null;
    for (const [id, name] of STEPS) {
      if (failed || unsupported) {
        addStep(id, name, 'skip', 'not run: an earlier step did not pass');
        continue;
      }
      try {
        const detail = await work[id]();
        if (detail === null) addStep(id, name, 'skip', 'no signer key given, so the statement’s own signature was not checked');
        else addStep(id, name, 'pass', detail);
      } catch (e) {
        if (e instanceof Unsupported) {
          unsupported = e.message;
          addStep(id, name, 'unsupported', e.message);
        } else if (e instanceof Failure) {
          failed = { id, name, message: e.message };
          addStep(id, name, 'fail', e.message);
        } else {
          failed = { id, name, message: `unexpected error: ${e && e.message}` };
          addStep(id, name, 'fail', failed.message);
        }
      }
    }
    if (unsupported) {
      showVerdict('unsupported', `Not checked: ${unsupported}.`);
    } else if (failed) {
      showVerdict('invalid', `Invalid: ${failed.name.toLowerCase()} failed.`);
    } else {
      showVerdict('valid', ctx.signer
        ? 'Valid: the statement is in the log, and it was signed by the key you gave.'
        : 'Valid: the entry is in the log under a checkpoint signed by the log key.');
      showClaim(ctx);
    }
    if (ctx.leaf && !unsupported && (!failed || failed.id === 'statement')) {
      // Invisible and direction-changing characters are shown as escapes, as on the entry pages.
      entryJson.textContent = JSON.stringify(ctx.leaf.statement, null, 2)
        .replace(/[\p{Cf}\p{Cc}]/gu, (c) => (c === '\n' ? c : c.split('')
          .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')));
      entryBox.hidden = false;
    }
    if (focus) verdict.focus({ preventScroll: true });
  }

  receiptArea.addEventListener('input', () => { fileBytes = null; fileInput.value = ''; });

  fileInput.addEventListener('change', async () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) { fileBytes = null; return; }
    if (file.size > MAX_RECEIPT_BYTES) {
      fileBytes = null;
      showVerdict('invalid', 'That file is larger than 1 MiB: not a receipt.');
      return;
    }
    fileBytes = new Uint8Array(await file.arrayBuffer());
    try {
      receiptArea.value = utf8.decode(fileBytes);
    } catch (e) {
      receiptArea.value = '';
    }
    showVerdict('idle', `Read ${file.size} bytes from the chosen file. Press Verify.`);
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    button.disabled = true;
    run().finally(() => { button.disabled = false; });
  });

  unsupportedReason().then((reason) => {
    if (reason) {
      support.textContent = reason;
      support.hidden = false;
      showVerdict('unsupported', 'This browser cannot check receipts.');
      return;
    }
    button.disabled = false;
    verdict.tabIndex = -1;
    // A receipt that came with the page (from an entry's "check it" link) is checked at once; the
    // reader's focus stays where it is.
    if (form.dataset.autoverify === 'true' && receiptArea.value) {
      button.disabled = true;
      run(false).finally(() => { button.disabled = false; });
    }
  });
})();
