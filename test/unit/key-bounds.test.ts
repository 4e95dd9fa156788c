import { describe, expect, it } from 'vitest';
import { MAX_KEY_CHARS, generateKeyPair, issueKey, parseTrustedKeys, verifyKey } from '../../src/keys/codec.ts';
import { orderToPayload } from '../../src/keys/order.ts';
import { KEY_BOUNDS, type LicenseKeyPayload } from '../../src/keys/payload.ts';
import { MAX_JSON_DEPTH, StrictJsonError, parseStrictJson } from '../../src/keys/strict-json.ts';
import { keyTerm } from '../../src/licensing/lifecycle.ts';

const pair = generateKeyPair();
const trusted = parseTrustedKeys(pair.publicKey);

describe('[R-KEY-3] strict JSON of key payloads and orders', () => {
  it('refuses a member named twice at any depth, also when spelt with an escape, and names where', () => {
    const cases: [string, string][] = [
      ['{"a":1,"a":2}', 'duplicate member "a" in the payload'],
      ['{"entitlements":[{"quantity":10,"quantity":100000}]}', 'duplicate member "quantity" in entitlements[0]'],
      ['{"entitlements":[{"q":1},{"product":"A","x":{"y":1,"\\u0079":2}}]}', 'duplicate member "y" in entitlements[1].x'],
    ];
    for (const [text, message] of cases) {
      expect(() => parseStrictJson(text, 'the payload')).toThrow(message);
      expect(() => parseStrictJson(text, 'the payload')).toThrow(StrictJsonError);
    }
  });

  it('accepts the same member name in different objects, and returns what JSON.parse returns', () => {
    const text = '{"a":{"b":1},"c":{"b":2},"d":[{"b":3},{"b":4}],"e":"\\u0000é"}';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels without exhausting the stack, and text that is not JSON`, () => {
    expect(() => parseStrictJson(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toThrow(/nested deeper than 8/);
    expect(() => parseStrictJson(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toThrow(StrictJsonError);
    expect(parseStrictJson(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeDefined();
    for (const text of ['{"a":1,}', '{"a":1 /* c */}', '{a:1}', '']) expect(() => parseStrictJson(text)).toThrow(/not valid JSON/);
  });
});

describe('[R-KEY-1] key bounds', () => {
  /** A payload at every bound: the largest key the gateway accepts. */
  function largest(): LicenseKeyPayload {
    const perProduct = Math.floor(KEY_BOUNDS.keyTotal / KEY_BOUNDS.entitlements / 2);
    return {
      v: 1,
      keyId: 'K'.repeat(KEY_BOUNDS.idLength),
      customerRef: 'C'.repeat(KEY_BOUNDS.idLength),
      catalog: 'c'.repeat(KEY_BOUNDS.codeLength),
      validFrom: '2099-12-31T23:59:59.999Z',
      termMonths: KEY_BOUNDS.termMonths,
      graceDays: KEY_BOUNDS.graceDays,
      demoAgentLimit: KEY_BOUNDS.demoAgentLimit,
      autoRenew: true,
      noticeMonths: KEY_BOUNDS.noticeMonths,
      issuedAt: '2099-12-31T23:59:59.999Z',
      entitlements: Array.from({ length: KEY_BOUNDS.entitlements }, (_, i) => ({
        product: `${i}`.padStart(KEY_BOUNDS.codeLength, 'P'),
        quantity: perProduct,
        allocation: 'CONCURRENT' as const,
        emergencyQuantity: perProduct,
        overageAllowed: false,
        overageGraceMinutes: KEY_BOUNDS.overageGraceMinutes,
      })),
    };
  }

  it('a key at every bound verifies, fits the key length bound, and its dates are real instants before 2120', () => {
    const key = issueKey(largest(), pair.privateKeyPem);
    expect(key.length).toBeLessThanOrEqual(MAX_KEY_CHARS);
    const result = verifyKey(key, trusted);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const term = keyTerm(result.payload);
    expect(term.graceUntil.getTime()).toBeLessThan(Date.parse('2120-01-01T00:00:00Z'));
    expect(term.cancellationDeadline.toISOString()).toBe('2099-12-31T23:59:59.999Z');
  });

  it('a key longer than the bound is MALFORMED before anything else is read', () => {
    const result = verifyKey(`LK1.${'A'.repeat(12)}.${'A'.repeat(MAX_KEY_CHARS)}.${'A'.repeat(86)}`, trusted);
    expect(result).toMatchObject({ ok: false, reason: 'MALFORMED' });
    expect(result.ok === false && result.message).toMatch(/at most 65536/);
  });

  it('[R-KEY-2] an order beyond a bound is refused by the issuer too, naming the field and the bound', () => {
    const order = {
      customerRef: 'CUST-1',
      catalog: 'innoacd',
      validFrom: '2026-01-15',
      entitlements: [{ product: 'ACD_AGENT', quantity: 5 }],
    };
    const now = new Date('2026-01-01T00:00:00Z');
    expect(() => orderToPayload({ ...order, graceDays: 1e12 }, now)).toThrow('graceDays must be a whole number from 0 to 3650');
    expect(() => orderToPayload({ ...order, entitlements: [{ product: 'ACD_AGENT', quantity: 3_000_000_000 }] }, now)).toThrow(
      'entitlements[0].quantity must be a whole number from 0 to 1000000',
    );
    expect(() => orderToPayload({ ...order, validFrom: '2100-01-01' }, now)).toThrow(
      /validFrom must be .* to before 2100-01-01T00:00:00\.000Z/,
    );
    expect(() => orderToPayload({ ...order, keyId: 'K'.repeat(201) }, now)).toThrow(
      'keyId must be a non-empty string of at most 200 characters',
    );
  });
});
