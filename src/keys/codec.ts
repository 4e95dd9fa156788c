/**
 * Licence key encoding (R-KEY-1): `LK1.<kid>.<payload>.<signature>`.
 *
 * - payload: base64url (no padding) of the payload's UTF-8 JSON;
 * - signature: Ed25519 over the ASCII bytes of `LK1.<kid>.<payload>`, base64url;
 * - kid: the first 12 base64url characters of SHA-256 over the raw 32-byte
 *   public key, so a key from an unknown signer is told apart from a tampered one.
 *
 * The gateway holds only public keys (`LICENSE_PUBLIC_KEYS`); several may be
 * trusted at once so the vendor can rotate its signing key.
 *
 * @example
 * const pair = generateKeyPair();
 * const key = issueKey(payload, pair.privateKeyPem);
 * verifyKey(key, parseTrustedKeys(pair.publicKey)); // { ok: true, kid, payload }
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { KeyFormatError, parsePayload, type LicenseKeyPayload } from './payload.ts';
import { StrictJsonError, parseStrictJson } from './strict-json.ts';

export const KEY_PREFIX = 'LK1';
const KID_LENGTH = 12;
/** An Ed25519 signature is 64 bytes: 86 base64url characters. */
const SIGNATURE_CHARS = 86;
const RAW_KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/**
 * The longest key accepted, whitespace removed: a payload at every bound of
 * docs/license-keys.md (200 entitlements) is about 54,000 characters of base64url (test/unit/key-bounds.test.ts issues one).
 */
export const MAX_KEY_CHARS = 65_536;

export interface TrustedKey {
  kid: string;
  /** The raw 32-byte public key, base64url. */
  publicKey: string;
  keyObject: KeyObject;
}

export interface GeneratedKeyPair {
  /** PKCS#8 PEM; stays with the vendor. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  /** The raw 32-byte public key, base64url: the `LICENSE_PUBLIC_KEYS` form. */
  publicKey: string;
  kid: string;
}

/** The parts of a structurally sound key; nothing here is trusted yet. */
export interface DecodedKey {
  kid: string;
  /** `LK1.<kid>.<payload>`: the text the signature covers. */
  signedText: string;
  signature: Buffer;
  /** The payload's JSON, not yet validated (see `parsePayload`). */
  content: unknown;
}

export type KeyFailureReason = 'MALFORMED' | 'UNKNOWN_SIGNER' | 'BAD_SIGNATURE' | 'INVALID_PAYLOAD';

export type VerifyResult = { ok: true; kid: string; payload: LicenseKeyPayload } | { ok: false; reason: KeyFailureReason; message: string };

/** The key is not `LK1.<kid>.<payload>.<signature>` with valid base64url and JSON. */
export class MalformedKeyError extends Error {
  override readonly name = 'MalformedKeyError';
  readonly reason = 'MALFORMED';
}

/** A public or private key given to this module is unusable; the message names which one. */
export class KeyMaterialError extends Error {
  override readonly name = 'KeyMaterialError';
}

function kidOf(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('base64url').slice(0, KID_LENGTH);
}

/** The raw 32 bytes of an Ed25519 public key; JWK's `x` is exactly that, base64url. */
function rawOf(publicKey: KeyObject): Buffer {
  const { x } = publicKey.export({ format: 'jwk' });
  if (publicKey.asymmetricKeyType !== 'ed25519' || x === undefined) {
    throw new KeyMaterialError(`expected an Ed25519 key, got ${publicKey.asymmetricKeyType ?? 'an unknown key type'}`);
  }
  return Buffer.from(x, 'base64url');
}

function trusted(keyObject: KeyObject): TrustedKey {
  const raw = rawOf(keyObject);
  return { kid: kidOf(raw), publicKey: raw.toString('base64url'), keyObject };
}

export function generateKeyPair(): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const { kid, publicKey: raw } = trusted(publicKey);
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKey: raw,
    kid,
  };
}

/**
 * Signs `payload` after validating it, so a vendor can never hand out a key
 * the gateway would refuse. The JSON is the canonical form from `parsePayload`.
 *
 * @throws KeyFormatError for an invalid payload, KeyMaterialError for an unusable private key
 */
export function issueKey(payload: LicenseKeyPayload, privateKeyPem: string): string {
  const canonical = parsePayload(payload);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch {
    throw new KeyMaterialError('private key: not a PEM-encoded private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new KeyMaterialError(`private key: expected Ed25519, got ${privateKey.asymmetricKeyType ?? 'an unknown key type'}`);
  }
  const { kid } = trusted(createPublicKey(privateKey));
  const body = Buffer.from(JSON.stringify(canonical), 'utf8').toString('base64url');
  const signedText = `${KEY_PREFIX}.${kid}.${body}`;
  const signature = sign(null, Buffer.from(signedText, 'ascii'), privateKey);
  return `${signedText}.${signature.toString('base64url')}`;
}

const PEM_OR_TOKEN = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----|[^\s,]+/g;

/**
 * The trusted public keys from `LICENSE_PUBLIC_KEYS`: entries separated by
 * commas or whitespace, each a raw 32-byte Ed25519 public key in base64url or
 * base64, or an SPKI PEM block (`\n` written literally, as env files do, is accepted).
 * A key listed twice counts once.
 *
 * @example
 * parseTrustedKeys('q1w2…, -----BEGIN PUBLIC KEY-----…-----END PUBLIC KEY-----');
 * @throws KeyMaterialError naming the entry (1-based) that is not a usable key
 */
export function parseTrustedKeys(value: string): TrustedKey[] {
  const keys = new Map<string, TrustedKey>();
  let entry = 0;
  for (const match of value.matchAll(PEM_OR_TOKEN)) {
    entry += 1;
    const [token, pemLabel, pemBody] = match;
    const bad = (why: string): KeyMaterialError => {
      const shown = pemLabel !== undefined ? `-----BEGIN ${pemLabel}-----` : token.length > 24 ? `${token.slice(0, 24)}…` : token;
      return new KeyMaterialError(`LICENSE_PUBLIC_KEYS entry ${entry} (${JSON.stringify(shown)}): ${why}`);
    };
    let keyObject: KeyObject;
    if (pemLabel !== undefined) {
      if (pemLabel !== 'PUBLIC KEY') throw bad(`a ${pemLabel} PEM block; only public keys belong here`);
      const der = Buffer.from((pemBody ?? '').replace(/\\n|\s/g, ''), 'base64');
      try {
        keyObject = createPublicKey({ key: der, format: 'der', type: 'spki' });
      } catch {
        throw bad('not a valid SPKI public key');
      }
    } else {
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(token)) throw bad('not base64, base64url or a PEM block');
      const raw = Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      if (raw.length !== RAW_KEY_BYTES) throw bad(`decodes to ${raw.length} bytes; a raw Ed25519 public key has ${RAW_KEY_BYTES}`);
      keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
    try {
      const key = trusted(keyObject);
      keys.set(key.kid, key);
    } catch (error) {
      throw bad(error instanceof Error ? error.message : String(error));
    }
  }
  return [...keys.values()];
}

/** base64url as `Buffer.toString('base64url')` writes it; anything else (padding, stray bits) is refused. */
function fromBase64url(part: string, what: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  if (!BASE64URL.test(part) || bytes.toString('base64url') !== part) {
    throw new MalformedKeyError(`licence key is malformed: the ${what} is not valid base64url`);
  }
  return bytes;
}

/** Splits and decodes the structure without parsing the payload, so tampering is reported as BAD_SIGNATURE. */
function split(key: string): { kid: string; signedText: string; body: Buffer; signature: Buffer } {
  const compact = key.replace(/\s+/g, '');
  if (compact === '') throw new MalformedKeyError('licence key is empty');
  if (compact.length > MAX_KEY_CHARS) {
    throw new MalformedKeyError(`licence key is malformed: it has ${compact.length} characters, at most ${MAX_KEY_CHARS}`);
  }
  const parts = compact.split('.');
  const [prefix, kid, body, signature] = parts;
  if (prefix !== KEY_PREFIX) throw new MalformedKeyError(`licence key is malformed: it must start with "${KEY_PREFIX}."`);
  if (parts.length !== 4 || kid === undefined || body === undefined || signature === undefined) {
    throw new MalformedKeyError(
      `licence key is malformed: it has ${parts.length} parts separated by ".", expected 4 (${KEY_PREFIX}.<kid>.<payload>.<signature>); was it cut off?`,
    );
  }
  if (kid.length !== KID_LENGTH || !BASE64URL.test(kid)) {
    throw new MalformedKeyError(`licence key is malformed: the kid must be ${KID_LENGTH} base64url characters`);
  }
  if (signature.length !== SIGNATURE_CHARS) {
    throw new MalformedKeyError(
      `licence key is malformed: the signature has ${signature.length} characters, expected ${SIGNATURE_CHARS}; was it cut off?`,
    );
  }
  return {
    kid,
    signedText: `${prefix}.${kid}.${body}`,
    body: fromBase64url(body, 'payload'),
    signature: fromBase64url(signature, 'signature'),
  };
}

/** Strict: a member named twice anywhere is refused, since `JSON.parse` would silently keep the last one. */
function parseJson(body: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new MalformedKeyError('licence key is malformed: the payload is not UTF-8 JSON');
  }
  try {
    return parseStrictJson(text, 'the payload');
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    const why = error.kind === 'SYNTAX' ? 'is not UTF-8 JSON' : `is not acceptable JSON: ${error.message}`;
    throw new MalformedKeyError(`licence key is malformed: the payload ${why}`);
  }
}

/**
 * Decodes a key without checking its signature (for `inspect`). Whitespace
 * and line breaks from pasting are ignored.
 *
 * @throws MalformedKeyError
 */
export function decodeKey(key: string): DecodedKey {
  const { kid, signedText, body, signature } = split(key);
  return { kid, signedText, signature, content: parseJson(body) };
}

/**
 * Checks a pasted key against the trusted public keys: structure, signer,
 * signature, then payload, and says which check failed.
 *
 * @example
 * const result = verifyKey(key, trustedKeys);
 * if (!result.ok) console.log(result.reason, result.message);
 */
export function verifyKey(key: string, trustedKeys: readonly TrustedKey[]): VerifyResult {
  try {
    const { kid, signedText, body, signature } = split(key);
    const signers = trustedKeys.filter((t) => t.kid === kid);
    if (signers.length === 0) {
      const known = trustedKeys.length === 0 ? 'no public keys are trusted' : `trusted: ${trustedKeys.map((t) => t.kid).join(', ')}`;
      return { ok: false, reason: 'UNKNOWN_SIGNER', message: `licence key was signed by an unknown key (kid ${kid}; ${known})` };
    }
    const data = Buffer.from(signedText, 'ascii');
    if (!signers.some((t) => verify(null, data, t.keyObject, signature))) {
      return {
        ok: false,
        reason: 'BAD_SIGNATURE',
        message: `licence key signature does not verify against key ${kid}: the key was altered`,
      };
    }
    return { ok: true, kid, payload: parsePayload(parseJson(body)) };
  } catch (error) {
    if (error instanceof MalformedKeyError) return { ok: false, reason: 'MALFORMED', message: error.message };
    if (error instanceof KeyFormatError) {
      return { ok: false, reason: 'INVALID_PAYLOAD', message: `licence key payload is invalid: ${error.message}` };
    }
    throw error;
  }
}
