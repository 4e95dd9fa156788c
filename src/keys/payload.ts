/**
 * The signed content of a licence key (R-KEY-1) and its validator. A key's
 * payload arrives as untrusted JSON, so it is narrowed field by field; every
 * error names the field (`entitlements[2].quantity must be …`) because the
 * person reading it has to fix an order or tell the vendor what is wrong.
 */
import { ALLOCATIONS, type Allocation } from '../catalogs/types.ts';
import { parseDateOrInstant, parseUtcInstant } from '../licensing/dates.ts';

export interface KeyEntitlement {
  product: string;
  quantity: number;
  /** Null: the catalog's default allocation for the product. */
  allocation: Allocation | null;
  emergencyQuantity: number;
  /** Null: the catalog's default. */
  overageAllowed: boolean | null;
  /** Null: the catalog's default. */
  overageGraceMinutes: number | null;
}

export interface LicenseKeyPayload {
  v: 1;
  keyId: string;
  customerRef: string;
  catalog: string;
  /** Start of the term, ISO 8601 UTC (`toISOString()` form once parsed). */
  validFrom: string;
  termMonths: number;
  graceDays: number;
  demoAgentLimit: number;
  autoRenew: boolean;
  noticeMonths: number;
  issuedAt: string;
  entitlements: KeyEntitlement[];
}

/** The commercial terms a key or order may leave out (innoACD's terms, seeds 000/001). */
export const PAYLOAD_DEFAULTS = {
  termMonths: 12,
  graceDays: 14,
  demoAgentLimit: 2,
  autoRenew: true,
  noticeMonths: 3,
} as const;

/** A payload or order that is not acceptable; `field` is the path of the offending field. */
export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A test that yields the typed value, or undefined when `value` is unacceptable; `expected` completes "must be …". */
export interface Check<T> {
  test(value: unknown): T | undefined;
  expected: string;
}

export const text: Check<string> = {
  test: (v) => (typeof v === 'string' && v.trim() !== '' ? v : undefined),
  expected: 'a non-empty string',
};

export const bool: Check<boolean> = {
  test: (v) => (typeof v === 'boolean' ? v : undefined),
  expected: 'true or false',
};

export function wholeNumber(min: number): Check<number> {
  return {
    test: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : undefined),
    expected: `a whole number >= ${min}`,
  };
}

export function oneOf<T extends string | number>(values: readonly T[]): Check<T> {
  return { test: (v) => values.find((x) => x === v), expected: values.join(' or ') };
}

export function orNull<T>(check: Check<T>): Check<T | null> {
  return { test: (v) => (v === null ? null : check.test(v)), expected: `${check.expected} or null` };
}

/** Normalised to `toISOString()` so every consumer compares the same text. */
export const utcInstant: Check<string> = {
  test: (v) => (typeof v === 'string' ? parseUtcInstant(v)?.toISOString() : undefined),
  expected: 'an ISO 8601 UTC instant such as 2026-01-15T00:00:00Z',
};

export const dateOrInstant: Check<string> = {
  test: (v) => (typeof v === 'string' ? parseDateOrInstant(v)?.toISOString() : undefined),
  expected: 'a date such as 2026-01-15 (00:00 UTC) or an ISO 8601 instant such as 2026-01-15T09:00:00+01:00',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads the fields of one JSON object under a path. It remembers what was
 * read, so `rejectUnknown()` can refuse a misspelt field instead of silently
 * applying a default in its place.
 */
export class FieldReader {
  readonly #object: Record<string, unknown>;
  readonly #path: string;
  readonly #seen = new Set<string>();

  /** `path` is '' for the top level, where `label` names the whole object in messages. */
  constructor(value: unknown, path: string, label = path) {
    if (!isRecord(value)) throw new KeyFormatError(path, `${label} must be a JSON object`);
    this.#object = value;
    this.#path = path;
  }

  pathOf(key: string): string {
    return this.#path === '' ? key : `${this.#path}.${key}`;
  }

  /** The field's value, undefined when absent. */
  raw(key: string): unknown {
    this.#seen.add(key);
    return Object.hasOwn(this.#object, key) ? this.#object[key] : undefined;
  }

  required<T>(key: string, check: Check<T>): T {
    const value = this.raw(key);
    if (value === undefined) throw new KeyFormatError(this.pathOf(key), `${this.pathOf(key)} is required (${check.expected})`);
    return this.#test(key, value, check);
  }

  optional<T, F = T>(key: string, check: Check<T>, fallback: F): T | F {
    const value = this.raw(key);
    return value === undefined ? fallback : this.#test(key, value, check);
  }

  list(key: string, minItems: number): unknown[] {
    const value = this.raw(key);
    const path = this.pathOf(key);
    if (!Array.isArray(value)) throw new KeyFormatError(path, `${path} must be an array`);
    if (value.length < minItems) throw new KeyFormatError(path, `${path} must list at least ${minItems} item(s)`);
    return value;
  }

  rejectUnknown(): void {
    const unknown = Object.keys(this.#object).find((key) => !this.#seen.has(key));
    if (unknown !== undefined) throw new KeyFormatError(this.pathOf(unknown), `${this.pathOf(unknown)} is not a known field`);
  }

  #test<T>(key: string, value: unknown, check: Check<T>): T {
    const result = check.test(value);
    if (result === undefined) throw new KeyFormatError(this.pathOf(key), `${this.pathOf(key)} must be ${check.expected}`);
    return result;
  }
}

/** The term fields shared by payloads and orders, in payload order. */
export function readTerms(r: FieldReader): Pick<LicenseKeyPayload, keyof typeof PAYLOAD_DEFAULTS> {
  return {
    termMonths: r.optional('termMonths', wholeNumber(1), PAYLOAD_DEFAULTS.termMonths),
    graceDays: r.optional('graceDays', wholeNumber(0), PAYLOAD_DEFAULTS.graceDays),
    demoAgentLimit: r.optional('demoAgentLimit', wholeNumber(0), PAYLOAD_DEFAULTS.demoAgentLimit),
    autoRenew: r.optional('autoRenew', bool, PAYLOAD_DEFAULTS.autoRenew),
    noticeMonths: r.optional('noticeMonths', wholeNumber(0), PAYLOAD_DEFAULTS.noticeMonths),
  };
}

/** `entitlements` of a payload or order; a product listed twice would make its quantity ambiguous. */
export function readEntitlements(r: FieldReader, minItems: number): KeyEntitlement[] {
  const path = r.pathOf('entitlements');
  const firstIndex = new Map<string, number>();
  return r.list('entitlements', minItems).map((item, i) => {
    const e = new FieldReader(item, `${path}[${i}]`);
    const entitlement: KeyEntitlement = {
      product: e.required('product', text),
      quantity: e.required('quantity', wholeNumber(0)),
      allocation: e.optional('allocation', orNull(oneOf(ALLOCATIONS)), null),
      emergencyQuantity: e.optional('emergencyQuantity', wholeNumber(0), 0),
      overageAllowed: e.optional('overageAllowed', orNull(bool), null),
      overageGraceMinutes: e.optional('overageGraceMinutes', orNull(wholeNumber(0)), null),
    };
    e.rejectUnknown();
    const earlier = firstIndex.get(entitlement.product);
    if (earlier !== undefined) {
      throw new KeyFormatError(
        e.pathOf('product'),
        `${e.pathOf('product')}: ${entitlement.product} is already listed in ${path}[${earlier}]`,
      );
    }
    firstIndex.set(entitlement.product, i);
    return entitlement;
  });
}

/**
 * Validates a decoded payload and fills in defaults; the result has every
 * field, in the canonical order `issueKey` signs.
 *
 * @example
 * parsePayload(JSON.parse(json)).entitlements[0]?.quantity;
 * @throws KeyFormatError naming the field
 */
export function parsePayload(raw: unknown): LicenseKeyPayload {
  const r = new FieldReader(raw, '', 'payload');
  const payload: LicenseKeyPayload = {
    v: r.required('v', oneOf<1>([1])),
    keyId: r.required('keyId', text),
    customerRef: r.required('customerRef', text),
    catalog: r.required('catalog', text),
    validFrom: r.required('validFrom', utcInstant),
    ...readTerms(r),
    issuedAt: r.required('issuedAt', utcInstant),
    entitlements: readEntitlements(r, 0),
  };
  r.rejectUnknown();
  return payload;
}
