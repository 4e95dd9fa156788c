import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MalformedKeyError,
  decodeKey,
  generateKeyPair,
  issueKey,
  parseTrustedKeys,
  verifyKey,
  type GeneratedKeyPair,
  type VerifyResult,
} from '../../src/keys/codec.ts';
import { orderToPayload, type CatalogLookup } from '../../src/keys/order.ts';
import { KeyFormatError, parsePayload, type LicenseKeyPayload } from '../../src/keys/payload.ts';

const pair = generateKeyPair();
const otherPair = generateKeyPair();

const basePayload = (): LicenseKeyPayload =>
  parsePayload({
    v: 1,
    keyId: 'K-1',
    customerRef: 'CUST-1',
    catalog: 'innoacd',
    validFrom: '2026-01-15T00:00:00Z',
    issuedAt: '2025-12-01T09:30:00Z',
    entitlements: [{ product: 'ACD_AGENT', quantity: 50, allocation: 'CONCURRENT' }],
  });

/** Signs arbitrary payload text, bypassing issueKey's validation, to test what the verifier does with it. */
function signRaw(payloadText: string, signer: GeneratedKeyPair): string {
  const signed = `LK1.${signer.kid}.${Buffer.from(payloadText, 'utf8').toString('base64url')}`;
  const signature = sign(null, Buffer.from(signed, 'ascii'), createPrivateKey(signer.privateKeyPem));
  return `${signed}.${signature.toString('base64url')}`;
}

/** Replaces the character at `index` with another base64url character. */
function flipAt(key: string, index: number): string {
  const c = key[index];
  return `${key.slice(0, index)}${c === 'A' ? 'B' : 'A'}${key.slice(index + 1)}`;
}

function failure(result: VerifyResult): { reason: string; message: string } {
  if (result.ok) throw new Error('expected the key to be refused');
  return { reason: result.reason, message: result.message };
}

const trusted = parseTrustedKeys(pair.publicKey);

describe('licence key codec', () => {
  it('[R-KEY-1] round trip: an issued key verifies and yields the payload with defaults filled in', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    expect(key).toMatch(/^LK1\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const result = verifyKey(key, trusted);
    expect(result).toEqual({ ok: true, kid: pair.kid, payload: basePayload() });
    expect(basePayload()).toMatchObject({ termMonths: 12, graceDays: 14, demoAgentLimit: 2, autoRenew: true, noticeMonths: 3 });
    expect(basePayload().entitlements[0]).toEqual({
      product: 'ACD_AGENT',
      quantity: 50,
      allocation: 'CONCURRENT',
      emergencyQuantity: 0,
      overageAllowed: null,
      overageGraceMinutes: null,
    });
  });

  it('[R-KEY-1] a tampered payload (one character flipped) is BAD_SIGNATURE', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    const payloadStart = key.indexOf('.', 4) + 1;
    expect(failure(verifyKey(flipAt(key, payloadStart + 40), trusted)).reason).toBe('BAD_SIGNATURE');
  });

  it('[R-KEY-1] a tampered signature is BAD_SIGNATURE', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    const result = failure(verifyKey(flipAt(key, key.lastIndexOf('.') + 10), trusted));
    expect(result.reason).toBe('BAD_SIGNATURE');
    expect(result.message).toContain(pair.kid);
  });

  it('[R-KEY-1] a key from a signer that is not trusted is UNKNOWN_SIGNER, naming its kid', () => {
    const key = issueKey(basePayload(), otherPair.privateKeyPem);
    const result = failure(verifyKey(key, trusted));
    expect(result.reason).toBe('UNKNOWN_SIGNER');
    expect(result.message).toContain(otherPair.kid);
    expect(failure(verifyKey(key, [])).message).toContain('no public keys are trusted');
  });

  it('[R-KEY-1] malformed base64url is MALFORMED', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    const payloadStart = key.indexOf('.', 4) + 1;
    const broken = `${key.slice(0, payloadStart + 5)}!${key.slice(payloadStart + 6)}`;
    const result = failure(verifyKey(broken, trusted));
    expect(result).toEqual({ reason: 'MALFORMED', message: 'licence key is malformed: the payload is not valid base64url' });
  });

  it('[R-KEY-1] a truncated key is MALFORMED', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    expect(failure(verifyKey(key.slice(0, key.length / 2), trusted)).message).toMatch(/has 3 parts.*cut off/);
    expect(failure(verifyKey(key.slice(0, -4), trusted)).message).toMatch(/signature has 82 characters, expected 86; was it cut off/);
    expect(failure(verifyKey('', trusted)).reason).toBe('MALFORMED');
  });

  it('[R-KEY-1] a wrong prefix is MALFORMED', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    const result = failure(verifyKey(`LK2${key.slice(3)}`, trusted));
    expect(result).toEqual({ reason: 'MALFORMED', message: 'licence key is malformed: it must start with "LK1."' });
  });

  it('[R-KEY-1] a correctly signed payload that is not JSON is MALFORMED', () => {
    expect(failure(verifyKey(signRaw('{"v":1,', pair), trusted)).reason).toBe('MALFORMED');
    expect(() => decodeKey(signRaw('not json', pair))).toThrow(MalformedKeyError);
  });

  it('[R-KEY-1] a signed payload with an invalid field is INVALID_PAYLOAD, naming the field', () => {
    const json = JSON.stringify({
      ...basePayload(),
      entitlements: [
        { product: 'A', quantity: 1 },
        { product: 'B', quantity: 2 },
        { product: 'C', quantity: -1 },
      ],
    });
    const result = failure(verifyKey(signRaw(json, pair), trusted));
    expect(result.reason).toBe('INVALID_PAYLOAD');
    expect(result.message).toBe('licence key payload is invalid: entitlements[2].quantity must be a whole number from 0 to 1000000');
  });

  it('[R-KEY-1] key rotation: with two trusted keys, keys from either verify', () => {
    const both = parseTrustedKeys(`${pair.publicKey}, ${otherPair.publicKey}`);
    expect(verifyKey(issueKey(basePayload(), pair.privateKeyPem), both)).toMatchObject({ ok: true, kid: pair.kid });
    expect(verifyKey(issueKey(basePayload(), otherPair.privateKeyPem), both)).toMatchObject({ ok: true, kid: otherPair.kid });
    const third = generateKeyPair();
    expect(failure(verifyKey(issueKey(basePayload(), third.privateKeyPem), both)).reason).toBe('UNKNOWN_SIGNER');
  });

  it('[R-KEY-1] whitespace and line breaks inside a pasted key are ignored', () => {
    const key = issueKey(basePayload(), pair.privateKeyPem);
    const pasted = `  ${key.match(/.{1,60}/g)?.join('\n   ') ?? ''}\r\n`;
    expect(verifyKey(pasted, trusted).ok).toBe(true);
    expect(decodeKey(pasted).kid).toBe(pair.kid);
  });

  it('[R-KEY-1] decodeKey reads kid and payload without checking the signature', () => {
    const key = issueKey(basePayload(), otherPair.privateKeyPem);
    const decoded = decodeKey(key);
    expect(decoded.kid).toBe(otherPair.kid);
    expect(parsePayload(decoded.content)).toEqual(basePayload());
    expect(decoded.signature).toHaveLength(64);
  });

  it('[R-KEY-1] issueKey refuses an invalid payload and a key that is not Ed25519', () => {
    expect(() => issueKey({ ...basePayload(), termMonths: 0 }, pair.privateKeyPem)).toThrow(
      'termMonths must be a whole number from 1 to 120',
    );
    expect(() => issueKey(basePayload(), pair.publicKeyPem)).toThrow('private key: not a PEM-encoded private key');
  });
});

describe('LICENSE_PUBLIC_KEYS', () => {
  it('[R-KEY-1] parseTrustedKeys accepts raw base64url, raw base64 and SPKI PEM, separated by commas or whitespace', () => {
    const base64 = Buffer.from(otherPair.publicKey, 'base64url').toString('base64');
    const third = generateKeyPair();
    const keys = parseTrustedKeys(`${pair.publicKey},${base64}\n${third.publicKeyPem}`);
    expect(keys.map((k) => k.kid)).toEqual([pair.kid, otherPair.kid, third.kid]);
    expect(keys.map((k) => k.publicKey)).toEqual([pair.publicKey, otherPair.publicKey, third.publicKey]);
  });

  it('[R-KEY-1] a PEM written on one line with literal \\n (env files) is accepted, and a key listed twice counts once', () => {
    const oneLine = pair.publicKeyPem.trim().replace(/\n/g, '\\n');
    expect(parseTrustedKeys(`${oneLine} ${pair.publicKey}`).map((k) => k.kid)).toEqual([pair.kid]);
    expect(parseTrustedKeys('  ')).toEqual([]);
  });

  it('[R-KEY-1] a bad entry is named by its position', () => {
    expect(() => parseTrustedKeys(`${pair.publicKey}, abc`)).toThrow(
      'LICENSE_PUBLIC_KEYS entry 2 ("abc"): decodes to 2 bytes; a raw Ed25519 public key has 32',
    );
    expect(() => parseTrustedKeys(`${pair.publicKey} not*base64`)).toThrow('entry 2 ("not*base64"): not base64, base64url or a PEM block');
    expect(() => parseTrustedKeys(pair.privateKeyPem)).toThrow(
      'entry 1 ("-----BEGIN PRIVATE KEY-----"): a PRIVATE KEY PEM block; only public keys belong here',
    );
  });
});

describe('payload validation', () => {
  const raw = (): Record<string, unknown> => JSON.parse(JSON.stringify(basePayload()));

  it('[R-KEY-1] names a missing, mistyped or unknown field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { ...raw(), customerRef: undefined },
        'customerRef is required (a non-empty string of at most 200 characters without control characters or unpaired surrogates)',
      ],
      [{ ...raw(), v: 2 }, 'v must be 1'],
      [{ ...raw(), graceDays: 1.5 }, 'graceDays must be a whole number from 0 to 3650'],
      [{ ...raw(), autoRenew: 'yes' }, 'autoRenew must be true or false'],
      [{ ...raw(), validFrom: '2026-02-30T00:00:00Z' }, 'validFrom must be an ISO 8601 UTC instant'],
      [{ ...raw(), validFrom: '2026-01-15T00:00:00+01:00' }, 'validFrom must be an ISO 8601 UTC instant'],
      [{ ...raw(), expires: '2027-01-01' }, 'expires is not a known field'],
      [{ ...raw(), entitlements: {} }, 'entitlements must be an array'],
      [
        { ...raw(), entitlements: [{ product: 'A', quantity: 1, allocation: 'FLOATING' }] },
        'entitlements[0].allocation must be NAMED or CONCURRENT or FIXED_SEAT or ACCOUNT or null',
      ],
      [{ ...raw(), entitlements: [{ product: 'A', quantity: 1, seats: 2 }] }, 'entitlements[0].seats is not a known field'],
      [
        {
          ...raw(),
          entitlements: [
            { product: 'A', quantity: 1 },
            { product: 'A', quantity: 2 },
          ],
        },
        'entitlements[1].product: A is already listed in entitlements[0]',
      ],
      [
        { ...raw(), entitlements: [{ product: 'A', quantity: 1, overageGraceMinutes: -5 }] },
        'entitlements[0].overageGraceMinutes must be a whole number from 0 to 10080 or null',
      ],
    ];
    for (const [input, message] of cases) {
      expect(() => parsePayload(input)).toThrow(message);
    }
    expect(() => parsePayload([])).toThrow('payload must be a JSON object');
  });

  it('[R-KEY-1] the error carries the field path', () => {
    try {
      parsePayload({
        ...raw(),
        entitlements: [
          { product: 'A', quantity: 1 },
          { product: 'B', quantity: 'ten' },
        ],
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KeyFormatError);
      expect(error).toMatchObject({ field: 'entitlements[1].quantity' });
    }
  });

  it('[R-KEY-1] instants are normalised to toISOString form', () => {
    expect(parsePayload({ ...raw(), validFrom: '2026-01-15T08:30Z' }).validFrom).toBe('2026-01-15T08:30:00.000Z');
    expect(parsePayload({ ...raw(), validFrom: '2026-01-15T08:30:00.123456Z' }).validFrom).toBe('2026-01-15T08:30:00.123Z');
  });
});

describe('orders', () => {
  const now = new Date('2025-12-01T10:00:00.000Z');
  const catalogs: CatalogLookup = (code) =>
    code === 'xphone-connect'
      ? {
          products: [
            { code: 'SERVER', allocation: 'ACCOUNT', allocationChoices: ['ACCOUNT'] },
            { code: 'OFFICE', allocation: 'NAMED', allocationChoices: ['NAMED'], emergencyAllowed: false },
            { code: 'ELITE', allocation: 'NAMED', allocationChoices: ['NAMED', 'CONCURRENT'] },
            { code: 'EMAIL', allocation: 'NAMED', allocationChoices: ['NAMED'], purchasable: false },
          ],
        }
      : null;
  const order = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    customerRef: 'CUST-2',
    catalog: 'xphone-connect',
    validFrom: '2026-03-01',
    entitlements: [
      { product: 'SERVER', quantity: 1 },
      { product: 'OFFICE', quantity: 100 },
    ],
    ...over,
  });

  it('[R-KEY-2] an order becomes a payload: plain date = 00:00 UTC, defaults, issuedAt = now, random keyId', () => {
    const a = orderToPayload(order(), now, catalogs);
    const b = orderToPayload(order(), now, catalogs);
    expect(a).toMatchObject({
      v: 1,
      customerRef: 'CUST-2',
      validFrom: '2026-03-01T00:00:00.000Z',
      termMonths: 12,
      graceDays: 14,
      demoAgentLimit: 2,
      autoRenew: true,
      noticeMonths: 3,
      issuedAt: '2025-12-01T10:00:00.000Z',
    });
    expect(a.keyId).not.toBe(b.keyId);
    expect(orderToPayload(order({ keyId: 'SO-4711' }), now).keyId).toBe('SO-4711');
    expect(orderToPayload(order({ validFrom: '2026-03-01T08:00:00+02:00' }), now).validFrom).toBe('2026-03-01T06:00:00.000Z');
    expect(parsePayload(a)).toEqual(a);
  });

  it('[R-KEY-2] catalog checks name the entitlement field', () => {
    const bad = (entitlement: Record<string, unknown>) => () =>
      orderToPayload(order({ entitlements: [{ product: 'SERVER', quantity: 1 }, entitlement] }), now, catalogs);
    expect(bad({ product: 'OFFYCE', quantity: 1 })).toThrow('entitlements[1].product: unknown product OFFYCE in catalog xphone-connect');
    expect(bad({ product: 'ELITE', quantity: 1, allocation: 'FIXED_SEAT' })).toThrow(
      'entitlements[1].allocation: ELITE is allocated NAMED or CONCURRENT, not FIXED_SEAT',
    );
    expect(bad({ product: 'OFFICE', quantity: 1, emergencyQuantity: 3 })).toThrow(
      'entitlements[1].emergencyQuantity: OFFICE has no emergency seats',
    );
    expect(bad({ product: 'EMAIL', quantity: 1 })).toThrow('entitlements[1].product: EMAIL is part of a bundle');
    expect(
      orderToPayload(order({ entitlements: [{ product: 'ELITE', quantity: 5, allocation: 'CONCURRENT' }] }), now, catalogs).entitlements[0]
        ?.allocation,
    ).toBe('CONCURRENT');
    expect(() => orderToPayload(order({ catalog: 'xphone' }), now, catalogs)).toThrow('catalog: unknown catalog xphone');
  });

  it('[R-KEY-2] order shape errors name the field; fields set at issue time are refused', () => {
    expect(() => orderToPayload(order({ entitlements: [] }), now)).toThrow('entitlements must list at least 1 item(s)');
    expect(() => orderToPayload(order({ validFrom: '15.01.2026' }), now)).toThrow('validFrom must be a date such as 2026-01-15');
    expect(() => orderToPayload(order({ issuedAt: '2026-01-01' }), now)).toThrow('issuedAt is not a known field');
    expect(() => orderToPayload(order({ entitlements: [{ product: 'SERVER' }] }), now)).toThrow('entitlements[0].quantity is required');
    expect(() => orderToPayload('order', now)).toThrow('order must be a JSON object');
  });
});

describe('docs/license-keys.md test vector', () => {
  // The documented example must be exactly what issueKey produces (Ed25519 is deterministic).
  const block = (name: string): string => {
    const doc = readFileSync(new URL('../../docs/license-keys.md', import.meta.url), 'utf8');
    const match = new RegExp(`<!-- ${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(doc);
    if (!match?.[1]) throw new Error(`docs/license-keys.md has no ${name} block`);
    return match[1];
  };

  it('[R-KEY-1] the example key is issued from the example payload and private key, and verifies with the example public key', () => {
    const payload = parsePayload(JSON.parse(block('example-payload')));
    const key = block('example-key').trim();
    expect(issueKey(payload, block('example-private-key'))).toBe(key);
    const result = verifyKey(key, parseTrustedKeys(block('example-public-key')));
    expect(result).toEqual({ ok: true, kid: block('example-kid').trim(), payload });
    expect(decodeKey(key).signedText).toBe(block('example-signed-text').trim());
  });
});
