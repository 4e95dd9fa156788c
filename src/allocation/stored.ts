/**
 * The allocation's figures as the write that computed them stored them
 * (migration 0013), for the licence mapping of a gateway that holds no
 * allocation of the organization yet (just started, or another instance):
 * served without reading every user, assignment and slot, and exactly what
 * computing it would give at that instant, or not served at all.
 *
 * A write transaction stores, with the organization's revision its inputs
 * had (the revision `writeTransaction` publishes under), what the mapping
 * takes of the allocation: per product the figures of `allocate` (consumed
 * licences …), the values of the instant they were computed with (full use,
 * entitlements) and, per product with a reassignment cool-down, the slot
 * summary with the span of instants over which it holds.
 *
 * A reader takes the organization row, the stored row and the licence keys
 * in one snapshot (a repeatable-read transaction) and computes what depends
 * on the instant as every read does: the licence status from the keys and
 * the row's clock of record, the entitlements from the status. The stored
 * figures are used only when the revision is the organization's current one
 * (no input changed since), the catalog is the one they were computed with,
 * full use and entitlements are equal, and the instant of record lies in
 * every slot summary's span (no window ended): `allocate` would then run on
 * equal inputs and give equal figures. Otherwise the caller computes.
 *
 * @example
 * const figures = (await readStoredMapping(db, org.id, catalog, now, parsedKeys)) ?? figuresOfView(await cache.view(db, org, catalog, now));
 */
import { createHash } from 'node:crypto';
import type { Catalog } from '../catalogs/types.ts';
import type { Db, Executor } from '../db/database.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import type { ProductAllocation } from '../licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../licensing/entitlements.ts';
import { slotSummarySpan, type SlotSummary } from '../licensing/reassignment.ts';
import { organizationOf } from '../tenancy/domain.ts';
import type { AllocationInputs } from './inputs.ts';
import { statusFrom, type ParsedKeys } from './keys.ts';
import { cooldownProducts, sameEntitlements, type AllocationView } from './view.ts';

/** What the licence mapping takes of an allocation view. */
export interface MappingFigures {
  catalog: Catalog;
  entitlements: readonly EntitlementView[];
  /** Per product: the figures of `allocate` (AllocationResult.products). */
  products: ReadonlyMap<string, ProductAllocation>;
  /** Per product with a reassignment cool-down. */
  slots: ReadonlyMap<string, SlotSummary>;
}

interface StoredSlots {
  product: string;
  cooldownDays: number;
  summary: SlotSummary;
  /** The instants (ms) over which `summary` holds: [from, until), null = unbounded. */
  from: number | null;
  until: number | null;
}

/** The `figures` column. */
interface StoredFigures {
  version: 1;
  fullUse: boolean;
  entitlements: EntitlementView[];
  products: ProductAllocation[];
  slots: StoredSlots[];
}

export function figuresOfView(view: AllocationView): MappingFigures {
  return { catalog: view.catalog, entitlements: view.entitlements, products: view.result.products, slots: view.slots };
}

/** Names the catalog's content: figures computed with another text of a catalog code are not used. */
export function catalogFingerprint(catalog: Catalog): string {
  return createHash('sha256').update(JSON.stringify(catalog)).digest('base64url');
}

function storedFiguresOf(view: AllocationView, inputs: AllocationInputs): StoredFigures {
  const slots: StoredSlots[] = [];
  for (const p of cooldownProducts(view.catalog)) {
    const summary = view.slots.get(p.code);
    if (!summary) continue;
    const cooldownDays = p.reassignCooldownDays ?? 0;
    const span = slotSummarySpan(inputs.slotsByProduct.get(p.code) ?? [], view.status.effectiveAt, cooldownDays, summary.total);
    slots.push({ product: p.code, cooldownDays, summary, ...span });
  }
  return {
    version: 1,
    fullUse: view.status.fullUse,
    entitlements: [...view.entitlements],
    products: [...view.result.products.values()],
    slots,
  };
}

/**
 * Stores the view a write transaction ended with (computed from `inputs`)
 * under `revision`, the organization's revision as the transaction sees it
 * after its last change of an input. Runs on that transaction, which holds
 * the organization's row lock; writes no input (no revision bump).
 */
export async function storeAllocation(
  trx: Executor,
  organizationId: string,
  revision: number,
  view: AllocationView,
  inputs: AllocationInputs,
): Promise<void> {
  const row = {
    organization_id: organizationId,
    revision,
    catalog_fingerprint: catalogFingerprint(view.catalog),
    computed_at: view.now,
    figures: JSON.stringify(storedFiguresOf(view, inputs)),
  };
  await trx
    .insertInto('stored_allocations')
    .values(row)
    .onConflict((oc) =>
      oc.column('organization_id').doUpdateSet({
        revision: row.revision,
        catalog_fingerprint: row.catalog_fingerprint,
        computed_at: row.computed_at,
        figures: row.figures,
      }),
    )
    .execute();
}

/** The `figures` column as written by `storeAllocation`, or null (a row of another shape: not used). */
function parseFigures(value: unknown): StoredFigures | null {
  const v = (typeof value === 'string' ? JSON.parse(value) : value) as Partial<StoredFigures> | null;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    v.version === 1 &&
    typeof v.fullUse === 'boolean' &&
    Array.isArray(v.entitlements) &&
    Array.isArray(v.products) &&
    Array.isArray(v.slots);
  return ok ? (v as StoredFigures) : null;
}

/**
 * The mapping's figures from the stored allocation, or null when they are
 * not exactly what computing at `now` would give (see the top of this file).
 */
export async function readStoredMapping(
  db: Db,
  organizationId: string,
  catalog: Catalog,
  now: Date,
  parsedKeys?: ParsedKeys,
): Promise<MappingFigures | null> {
  // One snapshot: the revision checked is the one of the keys read.
  const read = await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const stored = await trx
        .selectFrom('stored_allocations')
        .selectAll()
        .where('organization_id', '=', organizationId)
        .executeTakeFirst();
      if (!stored) return null;
      const org = await trx.selectFrom('organizations').selectAll().where('id', '=', organizationId).executeTakeFirst();
      if (!org || Number(org.revision) !== Number(stored.revision)) return null;
      return { stored, org: organizationOf(org), keys: await keysOfOrganizations(trx, [organizationId]) };
    });
  if (!read || read.stored.catalog_fingerprint !== catalogFingerprint(catalog)) return null;
  const figures = parseFigures(read.stored.figures);
  if (!figures) return null;

  const status = statusFrom(read.org, read.keys, now, parsedKeys);
  const entitlements = entitlementsOf(catalog, status.entitlements);
  if (status.fullUse !== figures.fullUse || !sameEntitlements(figures.entitlements, entitlements)) return null;
  const totals = new Map(entitlements.map((e) => [e.product, e.total]));
  const at = status.effectiveAt.getTime();
  const slots = new Map<string, SlotSummary>();
  for (const p of cooldownProducts(catalog)) {
    const s = figures.slots.find((x) => x.product === p.code);
    if (!s || s.cooldownDays !== (p.reassignCooldownDays ?? 0) || s.summary.total !== (totals.get(p.code) ?? 0)) return null;
    if ((s.from !== null && at < s.from) || (s.until !== null && at >= s.until)) return null;
    slots.set(p.code, s.summary);
  }
  return { catalog, entitlements, products: new Map(figures.products.map((p) => [p.product, p])), slots };
}
