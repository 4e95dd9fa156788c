/**
 * What needs an administrator's attention (src/licensing/warnings.ts) and why
 * a user holds a product (src/licensing/explain.ts), on the preset catalogs,
 * no database.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog, type Catalog } from '../../src/catalogs/index.ts';
import { allocate, type AllocationResult, type AllocationUser } from '../../src/licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../../src/licensing/entitlements.ts';
import { explainLicense } from '../../src/licensing/explain.ts';
import { EXPLAIN_STEP_CODES } from '../../src/licensing/explain-steps.ts';
import type { LicenseWarning } from '../../src/licensing/lifecycle.ts';
import { addOnCoverage } from '../../src/licensing/reports.ts';
import { hasWarnings, organizationWarnings, WARNING_CODES, warningsOfUser } from '../../src/licensing/warnings.ts';

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}

const xphone = catalog('xphone-connect');
const zoom = catalog('zoom-contact-center');
const at = (minute: number): Date => new Date(Date.UTC(2026, 0, 1) + minute * 60_000);

function buy(cat: Catalog, quantities: Record<string, number>): EntitlementView[] {
  return entitlementsOf(
    cat,
    Object.entries(quantities).map(([product, quantity]) => ({
      product,
      quantity,
      allocation: null,
      emergencyQuantity: 0,
      overageAllowed: null,
      overageGraceMinutes: null,
    })),
  );
}

function user(id: string, products: string[], minute: number, status = 'ACTIVE'): AllocationUser {
  return {
    id,
    status,
    options: [],
    configured: products.map((product) => ({ product, source: 'GROUP' as const, configuredAt: at(minute) })),
  };
}

const run = (cat: Catalog, entitlements: EntitlementView[], users: AllocationUser[], fullUse = true): AllocationResult =>
  allocate({ catalog: cat, entitlements, fullUse, users });

const NO_STATUS = { warnings: [] as LicenseWarning[], fullUse: true };

describe('organization warnings', () => {
  // 5 OFFICE users (2 by OFFICE_PLUS) for 4 licences, so t2 misses the OFFICE its TEAMDESK needs; 51 active users for 2 IP channels.
  const entitlements = buy(xphone, { SERVER: 1, IP_CHANNEL: 2, OFFICE: 2, OFFICE_PLUS: 2, TEAMDESK: 1 });
  const users = [
    user('a1', ['OFFICE'], 1),
    user('a2', ['OFFICE'], 2),
    user('a3', ['OFFICE'], 3),
    user('t1', ['OFFICE_PLUS', 'TEAMDESK'], 4),
    user('t2', ['OFFICE_PLUS', 'TEAMDESK'], 5),
    user('t3', [], 6),
  ];
  const result = run(xphone, entitlements, users);
  const team = { id: 'team-1', name: 'Hotline', leaderId: 't3', memberIds: ['t1', 't2', 't3'] };

  it('[R-LIFE-5] [R-UNDER-2] [R-ANALYTICS-2] licence state first, then shortages, advisories and underlicensed teams, with their products', () => {
    const status = { warnings: [{ code: 'RENEWAL_DUE' as const, message: 'Renew.' }], fullUse: true };
    const warnings = organizationWarnings({ catalog: xphone, status, entitlements, result, activeUsers: 51, teams: [team] });
    expect(warnings.map((w) => [w.code, w.product, w.teamId])).toEqual([
      ['RENEWAL_DUE', null, null],
      ['UNDERLICENSED', 'OFFICE', null],
      ['CAPACITY_ADVISORY', 'IP_CHANNEL', null],
      ['ANALYTICS_UNDERLICENSED', 'TEAMDESK', 'team-1'],
    ]);
    expect(warnings[1]?.message).toBe('OFFICE: 5 active user(s) need it, 4 licence(s): 1 without.');
    expect(warnings[3]?.message).toBe('Team Hotline: 2 member(s) need a TEAMDESK licence, 1 have none; team analytics are not accessible.');
  });

  it('[R-UNDER-2] no UNDERLICENSED while the licence is not in full use (its state warning says why)', () => {
    const demo = run(xphone, entitlements, users, false);
    const status = { warnings: [{ code: 'DEMO_MODE' as const, message: 'Demo.' }], fullUse: false };
    const codes = organizationWarnings({ catalog: xphone, status, entitlements, result: demo, activeUsers: 6, teams: [] }).map(
      (w) => w.code,
    );
    expect(codes).toEqual(['DEMO_MODE']);
  });

  it('[R-NAMED-3] an organization-scope prerequisite that is not bought is a MISSING_PREREQUISITE warning of the product', () => {
    const noServer = buy(xphone, { OFFICE: 5 });
    const warnings = organizationWarnings({
      catalog: xphone,
      status: NO_STATUS,
      entitlements: noServer,
      result: run(xphone, noServer, []),
      activeUsers: 0,
      teams: [],
    });
    expect(warnings.map((w) => [w.code, w.product])).toEqual([['MISSING_PREREQUISITE', 'OFFICE']]);
  });

  it('[R-ANALYTICS-2] teams are read only where the catalog has team analytics', () => {
    const ent = buy(zoom, { ESSENTIALS: 1 });
    const r = run(zoom, ent, [user('z1', ['ESSENTIALS'], 1)]);
    const warnings = organizationWarnings({
      catalog: zoom,
      status: NO_STATUS,
      entitlements: ent,
      result: r,
      activeUsers: 1,
      teams: [team],
    });
    expect(warnings.filter((w) => w.teamId !== null)).toEqual([]);
  });

  it('[R-ADDON-1] an add-on used by more users than a bundle covers and were bought is an ADDON_SHORTFALL of the add-on', () => {
    const ent = buy(zoom, { ESSENTIALS: 3, AI_EXPERT_ASSIST: 1 });
    const us = [1, 2, 3].map((i) => user(`z${i}`, ['ESSENTIALS', 'AI_EXPERT_ASSIST'], i));
    const r = run(zoom, ent, us);
    const shortfalls = organizationWarnings({
      catalog: zoom,
      status: NO_STATUS,
      entitlements: ent,
      result: r,
      activeUsers: 3,
      teams: [],
    }).filter((w) => w.code === 'ADDON_SHORTFALL');
    const expected = addOnCoverage(zoom, ent, r).filter((row) => row.shortfall > 0);
    expect(expected.length).toBeGreaterThan(0);
    expect(shortfalls.map((w) => w.product)).toEqual(expected.map((row) => row.addOn));
    expect(shortfalls.find((w) => w.product === 'AI_EXPERT_ASSIST')?.message).toBe(
      'AI_EXPERT_ASSIST: 3 user(s) use it, 0 covered by a bundle, 1 bought: 2 to buy.',
    );
  });
});

describe('user warnings', () => {
  const entitlements = buy(xphone, { SERVER: 1, OFFICE: 1 });
  const users = [
    user('u1', ['OFFICE'], 1),
    user('u2', ['OFFICE'], 2),
    user('u3', ['OFFICE'], 3, 'INACTIVE'),
    user('u4', ['OFFICE_PLUS'], 4),
  ];
  const result = run(xphone, entitlements, users);

  it('[R-UNDER-2] [R-NAMED-3] an active user beyond the pool is UNLICENSED, one without a prerequisite MISSING_PREREQUISITE; inactive users have none', () => {
    expect(warningsOfUser(result, users[0] as AllocationUser)).toEqual([]);
    expect(warningsOfUser(result, users[1] as AllocationUser)).toEqual([
      { code: 'UNLICENSED', product: 'OFFICE', message: 'No OFFICE licence: rank 2 of 3, 1 licence(s) available.', teamId: null },
    ]);
    expect(warningsOfUser(result, users[2] as AllocationUser)).toEqual([]);
    expect(warningsOfUser(result, users[3] as AllocationUser).map((w) => [w.code, w.product])).toEqual([
      ['UNLICENSED', 'OFFICE'],
      ['MISSING_PREREQUISITE', 'OFFICE_PLUS'],
    ]);
  });

  it('[R-UNDER-2] hasWarnings says exactly whether warningsOfUser has any, for every user', () => {
    for (const u of users) expect(hasWarnings(result, u), u.id).toBe(warningsOfUser(result, u).length > 0);
    expect(users.filter((u) => hasWarnings(result, u)).map((u) => u.id)).toEqual(['u2', 'u4']);
  });

  it('every code a warning can carry is in WARNING_CODES (the GraphQL WarningCode enum)', () => {
    const all = [
      ...organizationWarnings({ catalog: xphone, status: NO_STATUS, entitlements, result, activeUsers: 100, teams: [] }),
      ...users.flatMap((u) => warningsOfUser(result, u)),
    ];
    for (const w of all) expect(WARNING_CODES).toContain(w.code);
  });
});

describe('explanations', () => {
  const entitlements = buy(xphone, { SERVER: 1, OFFICE: 1 });
  const users = [user('u1', ['OFFICE'], 1), user('u2', ['OFFICE'], 2)];
  const result = run(xphone, entitlements, users);
  const licenseOf = (id: string) => result.users.get(id)?.find((l) => l.product === 'OFFICE');
  const office = entitlements.find((e) => e.product === 'OFFICE');

  it('[R-UNDER-1] states the licence state, the entitlement, then how the decision came about', () => {
    const granted = explainLicense({ state: 'ACTIVE', product: 'OFFICE', entitlement: office, license: licenseOf('u1') });
    expect(granted.granted).toBe(true);
    expect(granted.steps.slice(0, 2)).toEqual([
      'Licence state ACTIVE: The licence is active.',
      'The organization is entitled to 1 OFFICE (NAMED).',
    ]);
    expect(granted.steps.at(-1)).toMatch(/^Rank 1 of 2 .*: granted\.$/);
    const refused = explainLicense({ state: 'RENEWAL_DUE', product: 'OFFICE', entitlement: office, license: licenseOf('u2') });
    expect(refused.granted).toBe(false);
    expect(refused.steps.at(-1)).toMatch(/^Rank 2 of 2 .*: not granted\.$/);
  });

  it('a product neither bought nor configured says so', () => {
    expect(explainLicense({ state: 'NONE', product: 'FAX', entitlement: undefined, license: undefined })).toMatchObject({
      granted: false,
      steps: [
        'Licence state NONE: No licence key has been activated: demo mode, named licences are not granted.',
        'The organization has no FAX licences.',
        'FAX is not configured for the user (no group function, no direct assignment, not included in a held product).',
      ],
    });
  });

  it('[R-EXPLAIN-1] every step carries a stable code, the same text and its figures', () => {
    const refused = explainLicense({ state: 'ACTIVE', product: 'OFFICE', entitlement: office, license: licenseOf('u2') });
    expect(refused.details.map((d) => d.text)).toEqual(refused.steps);
    expect(refused.details.map((d) => d.code)).toEqual([
      'LICENSE_STATE',
      'ENTITLED',
      'CONFIGURED_BY_GROUP',
      'PREREQUISITES_MET',
      'RANK_NOT_GRANTED',
    ]);
    const params = (i: number) => Object.fromEntries(refused.details[i]?.parameters.map((p) => [p.name, p.value]) ?? []);
    expect(params(0)).toEqual({ state: 'ACTIVE' });
    expect(params(1)).toEqual({ product: 'OFFICE', total: '1', allocation: 'NAMED' });
    expect(params(4)).toEqual({ rank: '2', competing: '2', available: '1', bound: '0' });
    for (const d of refused.details) expect(Object.keys(EXPLAIN_STEP_CODES)).toContain(d.code);
    const none = explainLicense({ state: 'NONE', product: 'FAX', entitlement: undefined, license: undefined });
    expect(none.details.map((d) => d.code)).toEqual(['LICENSE_STATE', 'NOT_ENTITLED', 'NOT_CONFIGURED']);
  });
});
