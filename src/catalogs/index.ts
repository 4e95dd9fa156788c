/**
 * The catalogs shipped with the gateway (R-CAT-1) and small lookups over them.
 * Every `presets/*.json` file is a catalog whose code is its file name, so a
 * new vendor is a new data file, not new code.
 *
 * @example
 * const xphone = getCatalog('xphone-connect');
 * const office = xphone && productOf(xphone, 'OFFICE');
 */
import { readdirSync, readFileSync } from 'node:fs';
import { CatalogError, parseCatalog } from './loader.ts';
import type { Catalog, Product } from './types.ts';

export { CatalogError, parseCatalog } from './loader.ts';
export * from './types.ts';

const PRESETS = new URL('./presets/', import.meta.url);

let presets: Map<string, Catalog> | undefined;

/** All preset catalogs by code, read and validated once; frozen because every caller shares them. */
export function loadPresetCatalogs(): Map<string, Catalog> {
  if (presets) return presets;
  const loaded = new Map<string, Catalog>();
  for (const file of readdirSync(PRESETS)
    .filter((name) => name.endsWith('.json'))
    .sort()) {
    const source = `presets/${file}`;
    const catalog = parseCatalog(JSON.parse(readFileSync(new URL(file, PRESETS), 'utf8')), source);
    if (`${catalog.code}.json` !== file) {
      throw new CatalogError(`catalog ${catalog.code}: must be stored as presets/${catalog.code}.json, not ${source}`);
    }
    loaded.set(catalog.code, deepFreeze(catalog));
  }
  presets = loaded;
  return presets;
}

export function getCatalog(code: string): Catalog | null {
  return loadPresetCatalogs().get(code) ?? null;
}

/** The preset catalogs sorted by code (the `catalogs` query). */
export function listCatalogs(): Catalog[] {
  return [...loadPresetCatalogs().values()].sort((a, b) => a.code.localeCompare(b.code));
}

/** The product `code` of `catalog`; a code that is not there is a programming error, so it throws. */
export function productOf(catalog: Catalog, code: string): Product {
  const product = catalog.products.find((p) => p.code === code);
  if (!product) throw new CatalogError(`catalog ${catalog.code}: no product ${code}`);
  return product;
}

/** Products that license a channel (R-CHAN-1). */
export function channelProducts(catalog: Catalog): Product[] {
  return catalog.products.filter((p) => p.channel !== null);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
