/**
 * Turns a catalog preset (parsed JSON) into a validated `Catalog` (R-CAT-2).
 * A catalog that breaks its own rules is refused here, at load time, so the
 * licensing rules can trust every product code and number they read.
 *
 * Presets state only what differs from these defaults:
 * - catalog: `maxUsers` null (no limit), `options` [], `teamAnalyticsProduct` null, `products` []
 * - product: `unit` null, `unitsPerLicense` 1, `channel` null, `includes` [],
 *   `requirements` [], `description` null, `whenExhausted` REFUSE,
 *   `reassignCooldownDays` null, `overageAllowed` false, `overageGraceMinutes` 0,
 *   `emergencyAllowed` false, `allocationChoices` [allocation], `purchasable` true,
 *   `advisories` [], `settings` []
 * - setting: both `name` and `description` required (R-CAT-3)
 * - inclusion: `quantity` 1, `coverage` ALWAYS, `countsTowardTotal` false
 * - requirement: `minQuantity` 1, `condition` null
 *
 * Required: catalog `code`, `name`, `vendor`; product `code`, `name`,
 * `kind`, `allocation`; inclusion `product`; requirement `scope`, `anyOf`;
 * advisory `code`, `perUsers`, `message`. Unknown fields are refused, so a typo
 * never silently falls back to a default.
 *
 * @example
 * const catalog = parseCatalog(JSON.parse(text), 'presets/innoacd.json');
 */
import {
  ALLOCATIONS,
  EXHAUSTION_POLICIES,
  PRODUCT_KINDS,
  ADVISORY_CODES,
  HOLDER_FACTS,
  REQUIREMENT_SCOPES,
  type Advisory,
  type Catalog,
  type Inclusion,
  type Product,
  type ProductSetting,
  type Requirement,
} from './types.ts';

/** A catalog refused at load time; the message names the catalog and the product. */
export class CatalogError extends Error {
  override name = 'CatalogError';
}

type Json = Record<string, unknown>;
type Fail = (message: string) => never;

const COVERAGES = ['ALWAYS', 'NAMED_ONLY'] as const;

export function parseCatalog(raw: unknown, source: string): Catalog {
  const label = isJson(raw) && typeof raw.code === 'string' && raw.code !== '' ? raw.code : source;
  const fail: Fail = (message) => {
    throw new CatalogError(`catalog ${label}: ${message}`);
  };
  if (!isJson(raw)) return fail(`must be an object, got ${show(raw)}`);
  const f = new Fields(raw, fail);
  const catalog: Catalog = {
    code: f.string('code'),
    name: f.string('name'),
    vendor: f.string('vendor'),
    maxUsers: f.optionalInt('maxUsers', 1),
    options: f.strings('options'),
    teamAnalyticsProduct: f.optionalString('teamAnalyticsProduct'),
    products: f.objects('products', productLabel).map(parseProduct),
  };
  f.refuseUnknown(catalog);
  checkReferences(catalog, fail);
  return catalog;
}

/** Complaints about a product name it by code when it has one. */
function productLabel(raw: Json, index: number): string {
  return typeof raw.code === 'string' && raw.code !== '' ? `product ${raw.code}` : `products[${index}]`;
}

function parseProduct(f: Fields): Product {
  const allocation = f.oneOf('allocation', ALLOCATIONS);
  const product: Product = {
    code: f.string('code'),
    name: f.string('name'),
    kind: f.oneOf('kind', PRODUCT_KINDS),
    allocation,
    unit: f.optionalString('unit'),
    unitsPerLicense: f.int('unitsPerLicense', 1, 1),
    channel: f.optionalString('channel'),
    includes: f.objects('includes').map(parseInclusion),
    requirements: f.objects('requirements').map(parseRequirement),
    description: f.optionalString('description'),
    whenExhausted: f.oneOf('whenExhausted', EXHAUSTION_POLICIES, 'REFUSE'),
    reassignCooldownDays: f.optionalInt('reassignCooldownDays', 0),
    overageAllowed: f.bool('overageAllowed', false),
    overageGraceMinutes: f.int('overageGraceMinutes', 0, 0),
    emergencyAllowed: f.bool('emergencyAllowed', false),
    allocationChoices: f.oneOfEach('allocationChoices', ALLOCATIONS, [allocation]),
    purchasable: f.bool('purchasable', true),
    advisories: f.objects('advisories').map(parseAdvisory),
    settings: f.objects('settings').map(parseSetting),
    holderRequires: f.oneOfEach('holderRequires', HOLDER_FACTS, []),
  };
  f.refuseUnknown(product);
  const names = new Set<string>();
  for (const { name } of product.settings) {
    if (names.has(name)) f.fail(`setting ${name} is defined twice`);
    names.add(name);
  }
  if (!product.allocationChoices.includes(allocation)) {
    f.fail(`allocationChoices [${product.allocationChoices.join(', ')}] do not contain its allocation ${allocation}`);
  }
  return product;
}

function parseSetting(f: Fields): ProductSetting {
  const setting: ProductSetting = { name: f.string('name'), description: f.string('description') };
  f.refuseUnknown(setting);
  return setting;
}

function parseInclusion(f: Fields): Inclusion {
  const inclusion: Inclusion = {
    product: f.string('product'),
    quantity: f.int('quantity', 1, 1),
    coverage: f.oneOf('coverage', COVERAGES, 'ALWAYS'),
    countsTowardTotal: f.bool('countsTowardTotal', false),
  };
  f.refuseUnknown(inclusion);
  return inclusion;
}

function parseRequirement(f: Fields): Requirement {
  const requirement: Requirement = {
    scope: f.oneOf('scope', REQUIREMENT_SCOPES),
    anyOf: f.strings('anyOf', true),
    minQuantity: f.int('minQuantity', 1, 1),
    condition: f.optionalString('condition'),
  };
  f.refuseUnknown(requirement);
  return requirement;
}

function parseAdvisory(f: Fields): Advisory {
  const advisory: Advisory = {
    code: f.oneOf('code', ADVISORY_CODES),
    perUsers: f.int('perUsers', 1),
    message: f.string('message'),
  };
  f.refuseUnknown(advisory);
  return advisory;
}

/** The rules between products: unique codes, known references and options, no cycles. */
function checkReferences(catalog: Catalog, fail: Fail): void {
  const codes = new Set<string>();
  for (const { code } of catalog.products) {
    if (codes.has(code)) fail(`product ${code} is defined twice`);
    codes.add(code);
  }
  if (catalog.teamAnalyticsProduct !== null && !codes.has(catalog.teamAnalyticsProduct)) {
    fail(`teamAnalyticsProduct names unknown product ${catalog.teamAnalyticsProduct}`);
  }
  for (const product of catalog.products) {
    for (const { product: included } of product.includes) {
      if (!codes.has(included)) fail(`product ${product.code} includes unknown product ${included}`);
    }
    for (const { anyOf, condition } of product.requirements) {
      const unknown = anyOf.find((code) => !codes.has(code));
      if (unknown !== undefined) fail(`product ${product.code} requires unknown product ${unknown}`);
      if (condition !== null && !catalog.options.includes(condition)) {
        fail(
          `product ${product.code} has a requirement on condition "${condition}", ` +
            `which is not one of the catalog's options [${catalog.options.join(', ')}]`,
        );
      }
    }
  }
  const byCode = new Map(catalog.products.map((p) => [p.code, p]));
  const graphs = {
    requirements: (code: string) => byCode.get(code)?.requirements.flatMap((r) => r.anyOf) ?? [],
    includes: (code: string) => byCode.get(code)?.includes.map((i) => i.product) ?? [],
  };
  for (const [field, edges] of Object.entries(graphs)) {
    const cycle = findCycle([...codes], edges);
    if (cycle) fail(`products ${cycle.join(' → ')} form a cycle of ${field}`);
  }
}

/** The first cycle in a directed graph as a path back to its start (A → B → A), or null. */
function findCycle(nodes: string[], edges: (node: string) => string[]): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    const at = path.indexOf(node);
    if (at >= 0) return [...path.slice(at), node];
    if (done.has(node)) return null;
    path.push(node);
    for (const next of edges(node)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of nodes) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

/**
 * Typed reads of one JSON object's fields. A missing field takes the given
 * fallback; without one it is required. Every complaint names the field.
 */
class Fields {
  constructor(
    private readonly raw: Json,
    readonly fail: Fail,
  ) {}

  string(key: string): string {
    const value = this.raw[key];
    if (typeof value === 'string' && value !== '') return value;
    return this.fail(`${key} must be a non-empty string, got ${show(value)}`);
  }

  optionalString(key: string): string | null {
    return this.raw[key] === undefined || this.raw[key] === null ? null : this.string(key);
  }

  int(key: string, min: number, fallback?: number): number {
    const value = this.raw[key];
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min) return value;
    return this.fail(`${key} must be an integer >= ${min}, got ${show(value)}`);
  }

  optionalInt(key: string, min: number): number | null {
    return this.raw[key] === undefined || this.raw[key] === null ? null : this.int(key, min);
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    return this.fail(`${key} must be true or false, got ${show(value)}`);
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback?: T): T {
    const value = this.raw[key];
    if (value === undefined && fallback !== undefined) return fallback;
    if (isOneOf(values, value)) return value;
    return this.fail(`${key} must be one of ${values.join(', ')}, got ${show(value)}`);
  }

  oneOfEach<T extends string>(key: string, values: readonly T[], fallback: T[]): T[] {
    return this.list(key, fallback, (item, at) =>
      isOneOf(values, item) ? item : this.fail(`${at} must be one of ${values.join(', ')}, got ${show(item)}`),
    );
  }

  /** A list of strings; `nonEmpty` for lists where nothing would make no sense (anyOf). */
  strings(key: string, nonEmpty = false): string[] {
    const items = this.list(key, nonEmpty ? undefined : [], (item, at) =>
      typeof item === 'string' && item !== '' ? item : this.fail(`${at} must be a non-empty string, got ${show(item)}`),
    );
    return nonEmpty && items.length === 0 ? this.fail(`${key} must not be empty`) : items;
  }

  /** A list of objects, each read by its own `Fields` whose complaints carry `name(item)`. */
  objects(key: string, name = (_item: Json, i: number) => `${key}[${i}]`): Fields[] {
    return this.list(key, [], (item, at, i) => {
      if (!isJson(item)) return this.fail(`${at} must be an object, got ${show(item)}`);
      return new Fields(item, (message) => this.fail(`${name(item, i)}: ${message}`));
    });
  }

  /** Refuses fields the parsed object does not have (it carries every known field). */
  refuseUnknown(parsed: object): void {
    const unknown = Object.keys(this.raw).filter((key) => !(key in parsed));
    if (unknown.length > 0) this.fail(`unknown field ${unknown.join(', ')}`);
  }

  private list<T>(key: string, fallback: T[] | undefined, item: (value: unknown, at: string, i: number) => T): T[] {
    const value = this.raw[key];
    if (value === undefined && fallback !== undefined) return fallback;
    if (!Array.isArray(value)) return this.fail(`${key} must be a list, got ${show(value)}`);
    return value.map((v: unknown, i) => item(v, `${key}[${i}]`, i));
  }
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return values.some((v) => v === value);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
