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

/**
 * The bounds of every value a payload or order may carry (docs/license-keys.md,
 * "Bounds"). Seat figures end up in PostgreSQL `integer` columns (seat pools,
 * usage rows) and GraphQL `Int` fields, both 32-bit: with at most 10,000,000
 * licences per key and at most 20 units per licence in the catalogs, every
 * total and unit total stays far below 2^31. Terms are bounded so that every
 * derived date stays a real instant; strings and lists so that a key stays small.
 */
export const KEY_BOUNDS = {
  /** Licences of one product (`quantity`), and emergency seats on top (`emergencyQuantity`). */
  quantity: 1_000_000,
  /** `quantity` + `emergencyQuantity` summed over a key's entitlements. */
  keyTotal: 10_000_000,
  termMonths: 120,
  noticeMonths: 120,
  graceDays: 3_650,
  demoAgentLimit: 10_000,
  /** A week. */
  overageGraceMinutes: 10_080,
  entitlements: 200,
  /** keyId and customerRef. */
  idLength: 200,
  /** catalog and product codes. */
  codeLength: 64,
  /** validFrom and issuedAt: from (inclusive) … to (exclusive). */
  earliestInstant: '2000-01-01T00:00:00.000Z',
  latestInstant: '2100-01-01T00:00:00.000Z',
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

/** Control characters (NUL: PostgreSQL text cannot hold it) and UTF-16 surrogates without their pair (not Unicode). */
const UNSTORABLE = /\p{Cc}|\p{Cs}/u;

/** A non-empty string of at most `maxLength` UTF-16 code units, storable as sent (no control characters, no unpaired surrogates). */
export function text(maxLength: number): Check<string> {
  return {
    test: (v) => (typeof v === 'string' && v.trim() !== '' && v.length <= maxLength && !UNSTORABLE.test(v) ? v : undefined),
    expected: `a non-empty string of at most ${maxLength} characters without control characters or unpaired surrogates`,
  };
}

const idText = text(KEY_BOUNDS.idLength);
const codeText = text(KEY_BOUNDS.codeLength);

export const bool: Check<boolean> = {
  test: (v) => (typeof v === 'boolean' ? v : undefined),
  expected: 'true or false',
};

export function wholeNumber(min: number, max: number): Check<number> {
  return {
    test: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined),
    expected: `a whole number from ${min} to ${max}`,
  };
}

export function oneOf<T extends string | number>(values: readonly T[]): Check<T> {
  return { test: (v) => values.find((x) => x === v), expected: values.join(' or ') };
}

export function orNull<T>(check: Check<T>): Check<T | null> {
  return { test: (v) => (v === null ? null : check.test(v)), expected: `${check.expected} or null` };
}

const EARLIEST = Date.parse(KEY_BOUNDS.earliestInstant);
const LATEST = Date.parse(KEY_BOUNDS.latestInstant);
const IN_RANGE = `, from ${KEY_BOUNDS.earliestInstant} to before ${KEY_BOUNDS.latestInstant}`;
const inRange = (date: Date | null): string | undefined =>
  date !== null && date.getTime() >= EARLIEST && date.getTime() < LATEST ? date.toISOString() : undefined;

/** Normalised to `toISOString()` so every consumer compares the same text. */
export const utcInstant: Check<string> = {
  test: (v) => (typeof v === 'string' ? inRange(parseUtcInstant(v)) : undefined),
  expected: `an ISO 8601 UTC instant such as 2026-01-15T00:00:00Z${IN_RANGE}`,
};

export const dateOrInstant: Check<string> = {
  test: (v) => (typeof v === 'string' ? inRange(parseDateOrInstant(v)) : undefined),
  expected: `a date such as 2026-01-15 (00:00 UTC) or an ISO 8601 instant such as 2026-01-15T09:00:00+01:00${IN_RANGE}`,
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

  list(key: string, minItems: number, maxItems: number): unknown[] {
    const value = this.raw(key);
    const path = this.pathOf(key);
    if (!Array.isArray(value)) throw new KeyFormatError(path, `${path} must be an array`);
    if (value.length < minItems) throw new KeyFormatError(path, `${path} must list at least ${minItems} item(s)`);
    if (value.length > maxItems) throw new KeyFormatError(path, `${path} must list at most ${maxItems} item(s)`);
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
    termMonths: r.optional('termMonths', wholeNumber(1, KEY_BOUNDS.termMonths), PAYLOAD_DEFAULTS.termMonths),
    graceDays: r.optional('graceDays', wholeNumber(0, KEY_BOUNDS.graceDays), PAYLOAD_DEFAULTS.graceDays),
    demoAgentLimit: r.optional('demoAgentLimit', wholeNumber(0, KEY_BOUNDS.demoAgentLimit), PAYLOAD_DEFAULTS.demoAgentLimit),
    autoRenew: r.optional('autoRenew', bool, PAYLOAD_DEFAULTS.autoRenew),
    noticeMonths: r.optional('noticeMonths', wholeNumber(0, KEY_BOUNDS.noticeMonths), PAYLOAD_DEFAULTS.noticeMonths),
  };
}

/**
 * `entitlements` of a payload or order; a product listed twice would make its
 * quantity ambiguous. The licences of one key add up to at most `KEY_BOUNDS.keyTotal`.
 */
export function readEntitlements(r: FieldReader, minItems: number): KeyEntitlement[] {
  const path = r.pathOf('entitlements');
  const firstIndex = new Map<string, number>();
  const entitlements = r.list('entitlements', minItems, KEY_BOUNDS.entitlements).map((item, i) => {
    const e = new FieldReader(item, `${path}[${i}]`);
    const entitlement: KeyEntitlement = {
      product: e.required('product', codeText),
      quantity: e.required('quantity', wholeNumber(0, KEY_BOUNDS.quantity)),
      allocation: e.optional('allocation', orNull(oneOf(ALLOCATIONS)), null),
      emergencyQuantity: e.optional('emergencyQuantity', wholeNumber(0, KEY_BOUNDS.quantity), 0),
      overageAllowed: e.optional('overageAllowed', orNull(bool), null),
      overageGraceMinutes: e.optional('overageGraceMinutes', orNull(wholeNumber(0, KEY_BOUNDS.overageGraceMinutes)), null),
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
  const sum = entitlements.reduce((total, e) => total + e.quantity + e.emergencyQuantity, 0);
  if (sum > KEY_BOUNDS.keyTotal) {
    throw new KeyFormatError(
      path,
      `${path}: the quantities and emergency quantities of one key add up to ${sum}; at most ${KEY_BOUNDS.keyTotal}`,
    );
  }
  return entitlements;
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
    keyId: r.required('keyId', idText),
    customerRef: r.required('customerRef', idText),
    catalog: r.required('catalog', codeText),
    validFrom: r.required('validFrom', utcInstant),
    ...readTerms(r),
    issuedAt: r.required('issuedAt', utcInstant),
    entitlements: readEntitlements(r, 0),
  };
  r.rejectUnknown();
  return payload;
}
