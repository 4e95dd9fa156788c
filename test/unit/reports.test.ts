/**
 * Views over an allocation (src/licensing/reports.ts): licence mapping
 * (R-MAP-1, R-REASSIGN-3), site overview (R-UNDER-2), team analytics
 * (R-ANALYTICS-1/2) and sizing advisories; pure, no database.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog, type Allocation, type Catalog } from '../../src/catalogs/index.ts';
import { allocate, type AllocationResult, type AllocationUser } from '../../src/licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../../src/licensing/entitlements.ts';
import { summarizeSlots, type SlotSummary } from '../../src/licensing/reassignment.ts';
import {
  addOnCoverage,
  capacityAdvisories,
  licenseMapping,
  siteOverview,
  teamAnalytics,
  type MappingRow,
  type SeatFigures,
} from '../../src/licensing/reports.ts';

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}

const xphone = catalog('xphone-connect');
const zoom = catalog('zoom-contact-center');
const storm = catalog('connect-storm');

const T0 = Date.UTC(2026, 0, 1);
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);

function buy(
  cat: Catalog,
  quantities: Record<string, number | { quantity: number; emergency?: number; allocation?: Allocation }>,
): EntitlementView[] {
  return entitlementsOf(
    cat,
    Object.entries(quantities).map(([product, q]) => {
      const e = typeof q === 'number' ? { quantity: q } : q;
      return {
        product,
        quantity: e.quantity,
        allocation: e.allocation ?? null,
        emergencyQuantity: e.emergency ?? 0,
        overageAllowed: null,
        overageGraceMinutes: null,
      };
    }),
  );
}

function user(id: string, products: string[], minute = 0, status = 'ACTIVE'): AllocationUser {
  return {
    id,
    status,
    options: [],
    configured: products.map((product) => ({ product, source: 'GROUP' as const, configuredAt: at(minute) })),
  };
}

const numbered = (prefix: string, n: number, products: string[]): AllocationUser[] =>
  Array.from({ length: n }, (_, i) => user(`${prefix}${String(i + 1).padStart(2, '0')}`, products, i));

const run = (cat: Catalog, ent: EntitlementView[], users: AllocationUser[]): AllocationResult =>
  allocate({ catalog: cat, entitlements: ent, fullUse: true, users });

const NO_SLOTS = new Map<string, SlotSummary>();
const NO_SEATS = new Map<string, SeatFigures>();
const ZERO_COLUMNS = {
  reusable: 0,
  concurrentTotal: 0,
  concurrentInUse: 0,
  concurrentAvailable: 0,
  emergencyTotal: 0,
  emergencyInUse: 0,
  emergencyPeakThisPeriod: 0,
  emergencyAvailable: 0,
};

const rowOf = (rows: MappingRow[], product: string): MappingRow | undefined => rows.find((r) => r.product === product);

describe('licence mapping (R-MAP-1)', () => {
  const ent = buy(xphone, { SERVER: 1, IP_CHANNEL: 3, ADDITIONAL_DATABASES: 2, OFFICE: 100, OFFICE_PLUS: 50, CONTACTS: 3 });
  const users = [...numbered('o', 4, ['OFFICE']), ...numbered('p', 2, ['OFFICE_PLUS']), ...numbered('c', 5, ['CONTACTS'])];
  const rows = licenseMapping(xphone, ent, run(xphone, ent, users), NO_SLOTS, NO_SEATS, null);

  it('[R-MAP-1] one row per product of the catalog, in catalog order, each with every column', () => {
    expect(rows.map((r) => r.product)).toEqual(xphone.products.map((p) => p.code));
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        [
          'product',
          'licenseType',
          'total',
          'inUse',
          'reusable',
          'available',
          'concurrentTotal',
          'concurrentInUse',
          'concurrentAvailable',
          'emergencyTotal',
          'emergencyInUse',
          'emergencyPeakThisPeriod',
          'emergencyAvailable',
          'unitsTotal',
        ].sort(),
      );
    }
    // Not bought: an all-zero row.
    expect(rowOf(rows, 'TEAMDESK')).toEqual({
      product: 'TEAMDESK',
      licenseType: 'NAMED',
      total: 0,
      inUse: 0,
      available: 0,
      unitsTotal: 0,
      ...ZERO_COLUMNS,
    });
  });

  it('[R-MAP-1] [R-BUNDLE-1] named rows without slots: inUse = licences taken, available = total − inUse; bundle-included counted once', () => {
    expect(rowOf(rows, 'OFFICE')).toEqual({
      product: 'OFFICE',
      licenseType: 'NAMED',
      total: 150,
      inUse: 6,
      available: 144,
      unitsTotal: 150,
      ...ZERO_COLUMNS,
    });
    expect(rowOf(rows, 'OFFICE_PLUS')).toEqual({
      product: 'OFFICE_PLUS',
      licenseType: 'NAMED',
      total: 50,
      inUse: 2,
      available: 48,
      unitsTotal: 50,
      ...ZERO_COLUMNS,
    });
    // Five configured, three bought: all three in use, none available.
    expect(rowOf(rows, 'CONTACTS')).toEqual({
      product: 'CONTACTS',
      licenseType: 'NAMED',
      total: 3,
      inUse: 3,
      available: 0,
      unitsTotal: 3,
      ...ZERO_COLUMNS,
    });
  });

  it('[R-MAP-1] ACCOUNT rows are all in use by the organization and carry their units', () => {
    expect(rowOf(rows, 'SERVER')).toEqual({
      product: 'SERVER',
      licenseType: 'ACCOUNT',
      total: 1,
      inUse: 1,
      available: 0,
      unitsTotal: 10,
      ...ZERO_COLUMNS,
    });
    expect(rowOf(rows, 'ADDITIONAL_DATABASES')).toMatchObject({ total: 2, inUse: 2, available: 0, unitsTotal: 20 });
    expect(rowOf(rows, 'IP_CHANNEL')).toMatchObject({ total: 3, inUse: 3, available: 0, unitsTotal: 3 });
    const z = licenseMapping(zoom, buy(zoom, { VIRTUAL_AGENT: 1, CLOUD_STORAGE: 4 }), run(zoom, [], []), NO_SLOTS, NO_SEATS, ['ADDON']);
    expect(rowOf(z, 'VIRTUAL_AGENT')).toEqual({
      product: 'VIRTUAL_AGENT',
      licenseType: 'ACCOUNT',
      total: 1,
      inUse: 1,
      available: 0,
      unitsTotal: 1,
      ...ZERO_COLUMNS,
    });
    expect(rowOf(z, 'CLOUD_STORAGE')).toMatchObject({ total: 4, inUse: 4, available: 0 });
  });

  it('[R-MAP-1] `kinds` filters USER / FEATURE / SYSTEM / ADDON rows', () => {
    const result = run(xphone, ent, users);
    const codes = (kinds: Parameters<typeof licenseMapping>[5]): string[] =>
      licenseMapping(xphone, ent, result, NO_SLOTS, NO_SEATS, kinds).map((r) => r.product);
    expect(codes(['SYSTEM'])).toEqual(['SERVER', 'IP_CHANNEL', 'AUTO_ATTENDANT', 'ADDITIONAL_DATABASES']);
    expect(codes(['USER'])).toEqual(['OFFICE', 'OFFICE_PLUS', 'TEAMDESK', 'VOICEMAIL', 'FAX', 'TAPI_LINE', 'CONTACTS', 'DASHBOARD']);
    expect(codes(['FEATURE', 'ADDON'])).toEqual([]);
    expect(codes([])).toEqual([]);
    const stormCodes = licenseMapping(storm, [], run(storm, [], []), NO_SLOTS, NO_SEATS, ['FEATURE']).map((r) => r.product);
    expect(stormCodes).toEqual([
      'VOICE',
      'EMAIL',
      'WEBCHAT',
      'SMS',
      'CALL_RECORDING',
      'REPORTING',
      'CONFERENCE',
      'PADLOCK',
      'CTI_INTEGRATION',
    ]);
  });

  it('[R-MAP-1] Zoom tier features (part of a tier, not bought) have no rows', () => {
    const z = licenseMapping(
      zoom,
      buy(zoom, { ELITE: 10 }),
      run(zoom, buy(zoom, { ELITE: 10 }), numbered('e', 3, ['ELITE'])),
      NO_SLOTS,
      NO_SEATS,
      null,
    );
    expect(z.map((r) => r.product)).toEqual([
      'ESSENTIALS',
      'PREMIUM',
      'ELITE',
      'AI_EXPERT_ASSIST',
      'QUALITY_MANAGEMENT',
      'WORKFORCE_MANAGEMENT',
      'VIRTUAL_AGENT',
      'TOLL_FREE_NUMBERS',
      'CLOUD_STORAGE',
      'GLOBAL_NUMBERS',
    ]);
    expect(rowOf(z, 'ELITE')).toMatchObject({ total: 10, inUse: 3, available: 7 });
  });

  it('[R-REASSIGN-3] named rows with slots take inUse, reusable and available from the slot summary', () => {
    const e = buy(storm, { BASE: 10 });
    const slots = [
      { slotNo: 0, holderUserId: 'a', windowStart: at(0), earlyUsed: false },
      { slotNo: 1, holderUserId: 'b', windowStart: at(0), earlyUsed: false },
      { slotNo: 2, holderUserId: null, windowStart: at(0), earlyUsed: false },
      { slotNo: 3, holderUserId: null, windowStart: at(0), earlyUsed: true },
    ];
    const summary = summarizeSlots(slots, at(60 * 24 * 30), 90, 10);
    const result = run(storm, e, [user('a', ['BASE']), user('b', ['BASE'])]);
    const row = rowOf(licenseMapping(storm, e, result, new Map([['BASE', summary]]), NO_SEATS, ['USER']), 'BASE');
    // 2 held, 1 freed early (reusable), 1 freed after its early reassignment (bound).
    expect(row).toEqual({
      product: 'BASE',
      licenseType: 'NAMED',
      total: 10,
      inUse: 4,
      available: 7,
      unitsTotal: 10,
      ...ZERO_COLUMNS,
      reusable: 1,
    });
    expect(row?.available).toBe((row?.total ?? 0) - (row?.inUse ?? 0) + (row?.reusable ?? 0));
  });

  it('[R-MAP-1] concurrent rows fill the concurrent and emergency columns from the seat figures passed in', () => {
    const e = buy(storm, { BASE: 20, AGENT_SEAT: { quantity: 10, emergency: 2 }, VOICE: 5 });
    const result = run(storm, e, numbered('a', 12, ['BASE', 'AGENT_SEAT']));
    const seats = new Map<string, SeatFigures>([
      ['AGENT_SEAT', { inUse: 7, emergencyInUse: 1, emergencyPeakThisPeriod: 2 }],
      ['VOICE', { inUse: 6, emergencyInUse: 0, emergencyPeakThisPeriod: 0 }],
    ]);
    const rows2 = licenseMapping(storm, e, result, NO_SLOTS, seats, null);
    expect(rowOf(rows2, 'AGENT_SEAT')).toEqual({
      product: 'AGENT_SEAT',
      licenseType: 'CONCURRENT',
      total: 10,
      inUse: 7,
      reusable: 0,
      available: 3,
      concurrentTotal: 10,
      concurrentInUse: 7,
      concurrentAvailable: 3,
      emergencyTotal: 2,
      emergencyInUse: 1,
      emergencyPeakThisPeriod: 2,
      emergencyAvailable: 1,
      unitsTotal: 10,
    });
    // Above capacity (overage): nothing available, never negative.
    expect(rowOf(rows2, 'VOICE')).toMatchObject({ concurrentTotal: 5, concurrentInUse: 6, concurrentAvailable: 0, available: 0 });
    // No sessions yet: zero usage.
    expect(rowOf(rows2, 'SUPERVISOR_SEAT')).toMatchObject({ total: 0, concurrentTotal: 0, concurrentInUse: 0, emergencyTotal: 0 });
    const idle = licenseMapping(storm, e, result, NO_SLOTS, NO_SEATS, ['USER']);
    expect(rowOf(idle, 'AGENT_SEAT')).toMatchObject({
      concurrentTotal: 10,
      concurrentInUse: 0,
      concurrentAvailable: 10,
      emergencyTotal: 2,
      emergencyAvailable: 2,
    });
  });

  it('[R-MAP-1] a Zoom tier bought on the concurrent model is a concurrent row', () => {
    const e = buy(zoom, { ELITE: { quantity: 25, allocation: 'CONCURRENT' } });
    const result = run(zoom, e, numbered('e', 40, ['ELITE']));
    const row = rowOf(
      licenseMapping(zoom, e, result, NO_SLOTS, new Map([['ELITE', { inUse: 20, emergencyInUse: 0, emergencyPeakThisPeriod: 0 }]]), [
        'USER',
      ]),
      'ELITE',
    );
    expect(row).toMatchObject({ total: 25, concurrentTotal: 25, concurrentInUse: 20, concurrentAvailable: 5, inUse: 20, available: 5 });
    // [R-MAP-2] its licence type is what the key bought, not the catalog's NAMED.
    expect(row?.licenseType).toBe('CONCURRENT');
  });
});

describe('site overview (R-UNDER-2)', () => {
  it('[R-UNDER-2] required, granted and shortage per product for the users of one site', () => {
    const ent = buy(xphone, { SERVER: 1, OFFICE: 2, OFFICE_PLUS: 1, CONTACTS: 10, DASHBOARD: 10 });
    const siteA = [
      user('a1', ['OFFICE'], 0),
      user('a2', ['OFFICE_PLUS'], 1),
      user('a3', ['OFFICE'], 5),
      user('a4', ['DASHBOARD'], 0), // CONTACTS missing
      user('a5', ['OFFICE', 'CONTACTS'], -5, 'PREPARING'),
    ];
    const siteB = [user('b1', ['OFFICE'], 2), user('b2', ['CONTACTS', 'DASHBOARD'], 0)];
    const result = run(xphone, ent, [...siteA, ...siteB]);
    // OFFICE (3 in all): a1 (0), a2 via OFFICE_PLUS (1), b1 (2) hold it; a3 (5) does not.
    expect(siteOverview(xphone, result, siteA)).toEqual([
      { product: 'OFFICE', required: 3, granted: 2, shortage: 1 },
      { product: 'OFFICE_PLUS', required: 1, granted: 1, shortage: 0 },
      { product: 'DASHBOARD', required: 1, granted: 0, shortage: 1 },
    ]);
    expect(siteOverview(xphone, result, siteB)).toEqual([
      { product: 'OFFICE', required: 1, granted: 1, shortage: 0 },
      { product: 'CONTACTS', required: 1, granted: 1, shortage: 0 },
      { product: 'DASHBOARD', required: 1, granted: 1, shortage: 0 },
    ]);
    expect(siteOverview(xphone, result, [])).toEqual([]);
  });

  it('[R-UNDER-2] tier features are not licence needs; configured add-ons are', () => {
    const ent = buy(zoom, { ELITE: 2 });
    const result = run(zoom, ent, [...numbered('e', 3, ['ELITE', 'WORKFORCE_MANAGEMENT'])]);
    expect(siteOverview(zoom, result, numbered('e', 3, []))).toEqual([
      { product: 'ELITE', required: 3, granted: 2, shortage: 1 },
      { product: 'WORKFORCE_MANAGEMENT', required: 3, granted: 2, shortage: 1 },
    ]);
  });
});

describe('team analytics (R-ANALYTICS)', () => {
  // TEAMDESK needs OFFICE_PLUS on the user; 3 TEAMDESK licences for the teams below.
  const ent = buy(xphone, { SERVER: 1, OFFICE_PLUS: 10, TEAMDESK: 3 });
  const desk = ['OFFICE_PLUS', 'TEAMDESK'];
  const result = run(xphone, ent, [
    user('lead', ['OFFICE_PLUS'], 0),
    user('m1', desk, 1),
    user('m2', desk, 2),
    user('m3', desk, 3),
    user('m4', desk, 4), // rank 4 of 4: UNLICENSED
    user('m5', ['TEAMDESK'], 0), // no OFFICE_PLUS: MISSING_PREREQUISITE
    user('m6', ['OFFICE'], 0), // no TEAMDESK configured at all
  ]);

  it('[R-ANALYTICS-1] allowed when every member except the leader holds a granted TEAMDESK; the leader needs none', () => {
    expect(xphone.teamAnalyticsProduct).toBe('TEAMDESK');
    expect(teamAnalytics(xphone, result, { leaderId: 'lead', memberIds: ['lead', 'm1', 'm2', 'm3'] })).toEqual({
      allowed: true,
      membersRequiringLicense: 3,
      unlicensedMemberIds: [],
    });
    // The leader need not be listed among the members either.
    expect(teamAnalytics(xphone, result, { leaderId: 'lead', memberIds: ['m1', 'm2'] })).toEqual({
      allowed: true,
      membersRequiringLicense: 2,
      unlicensedMemberIds: [],
    });
  });

  it('[R-ANALYTICS-1] not allowed when a member is UNLICENSED, missing the prerequisite, or not configured; without a leader everyone needs one', () => {
    expect(teamAnalytics(xphone, result, { leaderId: 'lead', memberIds: ['lead', 'm1', 'm4'] })).toEqual({
      allowed: false,
      membersRequiringLicense: 2,
      unlicensedMemberIds: ['m4'],
    });
    expect(teamAnalytics(xphone, result, { leaderId: 'lead', memberIds: ['m1', 'm5', 'm6'] })).toEqual({
      allowed: false,
      membersRequiringLicense: 3,
      unlicensedMemberIds: ['m5', 'm6'],
    });
    expect(teamAnalytics(xphone, result, { leaderId: null, memberIds: ['lead', 'm1'] })).toEqual({
      allowed: false,
      membersRequiringLicense: 2,
      unlicensedMemberIds: ['lead'],
    });
    // A leader holding TEAMDESK is not counted.
    expect(teamAnalytics(xphone, result, { leaderId: 'm1', memberIds: ['m1', 'm2'] })).toMatchObject({
      allowed: true,
      membersRequiringLicense: 1,
    });
  });

  it('[R-ANALYTICS-1] a catalog without team analytics always allows them', () => {
    expect(teamAnalytics(zoom, run(zoom, [], []), { leaderId: null, memberIds: ['x', 'y'] })).toEqual({
      allowed: true,
      membersRequiringLicense: 0,
      unlicensedMemberIds: [],
    });
  });

  it('[R-ANALYTICS-2] a team with more members needing a licence than there are licences is underlicensed (the ANALYTICS_UNDERLICENSED figures)', () => {
    const capacity = result.products.get('TEAMDESK')?.capacity ?? 0;
    const access = teamAnalytics(xphone, result, { leaderId: 'lead', memberIds: ['lead', 'm1', 'm2', 'm3', 'm4'] });
    expect(capacity).toBe(3);
    expect(access.membersRequiringLicense).toBe(4);
    expect(access.membersRequiringLicense).toBeGreaterThan(capacity);
    expect(access).toMatchObject({ allowed: false, unlicensedMemberIds: ['m4'] });
    // Buying one more licence makes the team whole.
    const more = buy(xphone, { SERVER: 1, OFFICE_PLUS: 10, TEAMDESK: 4 });
    const after = run(
      xphone,
      more,
      ['m1', 'm2', 'm3', 'm4'].map((id, i) => user(id, desk, i + 1)),
    );
    expect(teamAnalytics(xphone, after, { leaderId: 'lead', memberIds: ['lead', 'm1', 'm2', 'm3', 'm4'] })).toEqual({
      allowed: true,
      membersRequiringLicense: 4,
      unlicensedMemberIds: [],
    });
  });
});

describe('add-on coverage rows (R-ADDON-1)', () => {
  it('[R-ADDON-1] one row per user add-on; account-wide add-ons have none', () => {
    const rows = addOnCoverage(zoom, buy(zoom, { VIRTUAL_AGENT: 1 }), run(zoom, [], []));
    expect(rows.map((r) => r.addOn)).toEqual(['AI_EXPERT_ASSIST', 'QUALITY_MANAGEMENT', 'WORKFORCE_MANAGEMENT']);
    expect(addOnCoverage(xphone, [], run(xphone, [], []))).toEqual([]);
  });

  it('[R-ADDON-1] purchased beyond need leaves no negative shortfall', () => {
    const ent = buy(zoom, { PREMIUM: 5, QUALITY_MANAGEMENT: 10 });
    const rows = addOnCoverage(zoom, ent, run(zoom, ent, numbered('p', 3, ['PREMIUM', 'QUALITY_MANAGEMENT'])));
    expect(rows.find((r) => r.addOn === 'QUALITY_MANAGEMENT')).toEqual({
      addOn: 'QUALITY_MANAGEMENT',
      usersRequiring: 3,
      coveredByBundle: 0,
      purchased: 10,
      shortfall: 0,
    });
  });
});

describe('sizing advisories', () => {
  const ent = (channels: number): EntitlementView[] => buy(xphone, { SERVER: 1, IP_CHANNEL: channels });

  it('XPhone CAPACITY_ADVISORY when IP_CHANNEL < ceil(active users / 25): 51 users with 2 channels', () => {
    expect(capacityAdvisories(xphone, ent(2), 51)).toEqual([
      {
        code: 'CAPACITY_ADVISORY',
        product: 'IP_CHANNEL',
        message: expect.stringContaining('51 active users: 3 IP_CHANNEL recommended, 2 licensed'),
      },
    ]);
    expect(capacityAdvisories(xphone, buy(xphone, { SERVER: 1 }), 1)).toEqual([
      expect.objectContaining({ code: 'CAPACITY_ADVISORY', product: 'IP_CHANNEL' }),
    ]);
  });

  it('XPhone: no CAPACITY_ADVISORY at the recommendation: 50 users with 2 channels, no users, other catalogs', () => {
    expect(capacityAdvisories(xphone, ent(2), 50)).toEqual([]);
    expect(capacityAdvisories(xphone, ent(3), 51)).toEqual([]);
    expect(capacityAdvisories(xphone, [], 0)).toEqual([]);
    expect(capacityAdvisories(zoom, [], 500)).toEqual([]);
  });
});
