/**
 * The named-licence rules of src/licensing/allocation.ts on the preset
 * catalogs, no database: who holds what (R-NAMED-1..3, R-BUNDLE-1), the fixed
 * order (R-UNDER-1..3), fixed seats (R-FIX-1), add-on coverage (R-ADDON-1)
 * and the licence state (R-LIFE-5).
 */
import { assert, describe, expect, it } from 'vitest';
import { getCatalog, type Allocation, type Catalog } from '../../src/catalogs/index.ts';
import {
  allocate,
  allocationChanges,
  decisionOrder,
  licenseSteps,
  userWarnings,
  type AllocationInput,
  type AllocationResult,
  type AllocationUser,
  type ConfiguredProduct,
  type UserLicense,
} from '../../src/licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../../src/licensing/entitlements.ts';
import { addOnCoverage } from '../../src/licensing/reports.ts';

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}

const xphone = catalog('xphone-connect');
const zoom = catalog('zoom-contact-center');
const storm = catalog('connect-storm');

const T0 = Date.UTC(2026, 0, 1);
/** An instant `minutes` after 2026-01-01T00:00Z. */
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);

/** Entitlements as a key would give them: quantities bought, optionally a chosen allocation. */
function buy(cat: Catalog, quantities: Record<string, number>, allocations: Record<string, Allocation> = {}): EntitlementView[] {
  return entitlementsOf(
    cat,
    Object.entries(quantities).map(([product, quantity]) => ({
      product,
      quantity,
      allocation: allocations[product] ?? null,
      emergencyQuantity: 0,
      overageAllowed: null,
      overageGraceMinutes: null,
    })),
  );
}

type Config = [product: string, minute: number, source?: ConfiguredProduct['source']];

function user(id: string, configured: Config[], extra: Partial<Pick<AllocationUser, 'status' | 'options'>> = {}): AllocationUser {
  return {
    id,
    status: extra.status ?? 'ACTIVE',
    options: extra.options ?? [],
    configured: configured.map(([product, minute, source]) => ({ product, source: source ?? 'GROUP', configuredAt: at(minute) })),
  };
}

/** `n` users `${prefix}NNN` configured for `products`, the i-th at minute `from + i`. */
function users(prefix: string, n: number, products: string[], from = 0): AllocationUser[] {
  return Array.from({ length: n }, (_, i) =>
    user(
      `${prefix}${String(i + 1).padStart(3, '0')}`,
      products.map((p) => [p, from + i]),
    ),
  );
}

function run(cat: Catalog, entitlements: EntitlementView[], us: AllocationUser[], extra: Partial<AllocationInput> = {}): AllocationResult {
  return allocate({ catalog: cat, entitlements, fullUse: true, users: us, ...extra });
}

function lic(result: AllocationResult, userId: string, product: string): UserLicense | undefined {
  return result.users.get(userId)?.find((l) => l.product === product);
}

/** The licence's explanation steps in one line (user.explain renders them on demand). */
function stepsOf(result: AllocationResult, userId: string, product: string): string {
  const l = lic(result, userId, product);
  return l ? licenseSteps(l).join(' ') : '<absent>';
}

function statusOf(result: AllocationResult, userId: string, product: string): string | undefined {
  return lic(result, userId, product)?.status;
}

/** Users holding `product` GRANTED, sorted by id. */
function holders(result: AllocationResult, product: string): string[] {
  return [...result.users]
    .filter(([, ls]) => ls.some((l) => l.product === product && l.status === 'GRANTED'))
    .map(([id]) => id)
    .sort();
}

const XPHONE_BASICS = { SERVER: 1, IP_CHANNEL: 2 };

describe('decision order', () => {
  it('[R-NAMED-3] every preset decides prerequisites before dependents and bundles before what they cover', () => {
    for (const cat of [xphone, zoom, storm, catalog('innoacd')]) {
      const order = decisionOrder(cat).map((p) => p.code);
      expect([...order].sort(), cat.code).toEqual(cat.products.map((p) => p.code).sort());
      const pos = (code: string): number => order.indexOf(code);
      for (const p of cat.products) {
        for (const r of p.requirements)
          if (r.scope === 'USER') for (const q of r.anyOf) expect(pos(q), `${q} before ${p.code}`).toBeLessThan(pos(p.code));
        for (const i of p.includes)
          if (!i.countsTowardTotal) expect(pos(p.code), `${p.code} before ${i.product}`).toBeLessThan(pos(i.product));
      }
    }
  });
});

describe('named licences and bundles', () => {
  it('[R-NAMED-1] a configuration group assigns with source GROUP, assignLicense with source DIRECT', () => {
    const r = run(xphone, buy(xphone, { ...XPHONE_BASICS, CONTACTS: 5 }), [
      user('a', [['CONTACTS', 0, 'GROUP']]),
      user('b', [['CONTACTS', 1, 'DIRECT']]),
    ]);
    expect(lic(r, 'a', 'CONTACTS')).toMatchObject({ source: 'GROUP', status: 'GRANTED', rank: 1, coveredBy: null, missing: [] });
    expect(lic(r, 'b', 'CONTACTS')).toMatchObject({ source: 'DIRECT', status: 'GRANTED', rank: 2, coveredBy: null, missing: [] });
    expect(r.products.get('CONTACTS')).toMatchObject({ required: 2, granted: 2, consumed: 2, capacity: 5, unlicensed: 0 });
  });

  it('[R-NAMED-1] a product both configured by the group and assigned directly is one licence, DIRECT, since its first configuration', () => {
    const r = run(xphone, buy(xphone, { ...XPHONE_BASICS, CONTACTS: 5 }), [
      user('a', [
        ['CONTACTS', 7, 'DIRECT'],
        ['CONTACTS', 3, 'GROUP'],
      ]),
    ]);
    expect(r.users.get('a')).toHaveLength(1);
    expect(lic(r, 'a', 'CONTACTS')).toMatchObject({ source: 'DIRECT', status: 'GRANTED', configuredAt: at(3) });
    expect(r.products.get('CONTACTS')?.consumed).toBe(1);
  });

  it('[R-NAMED-1] a user with OFFICE_PLUS holds one OFFICE (INCLUDED) and one OFFICE_PLUS, not two OFFICE', () => {
    const r = run(xphone, buy(xphone, { SERVER: 1, OFFICE_PLUS: 1 }), [user('a', [['OFFICE_PLUS', 5]])]);
    const licenses = r.users.get('a') ?? [];
    expect(licenses.map((l) => l.product)).toEqual(['OFFICE', 'OFFICE_PLUS']);
    expect(lic(r, 'a', 'OFFICE')).toMatchObject({ source: 'INCLUDED', status: 'GRANTED', rank: 1, coveredBy: null, configuredAt: at(5) });
    expect(lic(r, 'a', 'OFFICE_PLUS')).toMatchObject({ source: 'GROUP', status: 'GRANTED', rank: 1 });
    expect(r.products.get('OFFICE')).toMatchObject({ capacity: 1, consumed: 1, granted: 1 });
    expect(r.products.get('OFFICE_PLUS')).toMatchObject({ capacity: 1, consumed: 1, granted: 1 });
  });

  it('[R-NAMED-1] configuring OFFICE on an OFFICE_PLUS holder as well keeps one OFFICE and its place in the order', () => {
    // OFFICE came along with OFFICE_PLUS at minute 0; assigning it directly at
    // minute 10 must not move the user behind users configured in between.
    const ent = buy(xphone, { SERVER: 1, OFFICE: 1, OFFICE_PLUS: 1 }); // 2 OFFICE, 1 OFFICE_PLUS
    const others = [user('y', [['OFFICE', 1]]), user('z', [['OFFICE', 2]])];
    const before = run(xphone, ent, [user('x', [['OFFICE_PLUS', 0]]), ...others]);
    const after = run(xphone, ent, [
      user('x', [
        ['OFFICE_PLUS', 0],
        ['OFFICE', 10, 'DIRECT'],
      ]),
      ...others,
    ]);
    for (const r of [before, after]) {
      expect(holders(r, 'OFFICE')).toEqual(['x', 'y']);
      expect(holders(r, 'OFFICE_PLUS')).toEqual(['x']);
      expect(lic(r, 'x', 'OFFICE')?.rank).toBe(1);
      expect(lic(r, 'z', 'OFFICE')).toMatchObject({ status: 'UNLICENSED', rank: 3 });
      expect(r.users.get('x')?.filter((l) => l.product === 'OFFICE')).toHaveLength(1);
    }
    expect(lic(after, 'x', 'OFFICE')?.source).toBe('DIRECT');
    expect(allocationChanges(before, after)).toEqual([]);
  });

  it('[R-BUNDLE-1] 100 OFFICE + 50 OFFICE_PLUS (with SERVER) are 150 OFFICE licences: 150 users all granted, the next one UNLICENSED with rank 151', () => {
    const ent = buy(xphone, { SERVER: 1, OFFICE: 100, OFFICE_PLUS: 50 });
    expect(ent.find((e) => e.product === 'OFFICE')).toMatchObject({ quantity: 100, total: 150 });
    expect(ent.find((e) => e.product === 'OFFICE_PLUS')).toMatchObject({ quantity: 50, total: 50 });

    const office = users('o', 100, ['OFFICE'], 0);
    const plus = users('p', 50, ['OFFICE_PLUS'], 100);
    const full = run(xphone, ent, [...office, ...plus]);
    expect(full.products.get('OFFICE')).toMatchObject({ capacity: 150, required: 150, granted: 150, consumed: 150, unlicensed: 0 });
    expect(full.products.get('OFFICE_PLUS')).toMatchObject({ capacity: 50, required: 50, granted: 50, consumed: 50, unlicensed: 0 });
    for (const u of plus) {
      expect(lic(full, u.id, 'OFFICE')).toMatchObject({ source: 'INCLUDED', status: 'GRANTED' });
      expect(statusOf(full, u.id, 'OFFICE_PLUS')).toBe('GRANTED');
    }
    for (const u of office) expect(statusOf(full, u.id, 'OFFICE')).toBe('GRANTED');

    const extra = user('x', [['OFFICE', 500]]);
    const over = run(xphone, ent, [...office, ...plus, extra]);
    expect(lic(over, 'x', 'OFFICE')).toMatchObject({ status: 'UNLICENSED', rank: 151, source: 'GROUP' });
    expect(over.products.get('OFFICE')).toMatchObject({ capacity: 150, required: 151, granted: 150, consumed: 150, unlicensed: 1 });
    expect(holders(over, 'OFFICE')).toHaveLength(150);
    expect(holders(over, 'OFFICE_PLUS')).toHaveLength(50);
    expect(userWarnings(extra, over.users.get('x') ?? [], over.products)).toEqual([
      expect.objectContaining({ code: 'UNLICENSED', product: 'OFFICE', message: expect.stringContaining('rank 151 of 151') }),
    ]);
  });

  it('[R-NAMED-2] Zoom ELITE named, 100 bought: the 101st competing user is UNLICENSED (the service refuses it)', () => {
    const ent = buy(zoom, { ELITE: 100 });
    const elite = users('e', 101, ['ELITE']);
    const r = run(zoom, ent, elite);
    elite.slice(0, 100).forEach((u, i) => expect(lic(r, u.id, 'ELITE')).toMatchObject({ status: 'GRANTED', rank: i + 1 }));
    expect(lic(r, 'e101', 'ELITE')).toMatchObject({ status: 'UNLICENSED', rank: 101 });
    expect(r.products.get('ELITE')).toMatchObject({ allocation: 'NAMED', capacity: 100, granted: 100, consumed: 100, unlicensed: 1 });
    // Tier features come with a held tier only.
    expect(lic(r, 'e001', 'EMAIL')).toMatchObject({ status: 'GRANTED', coveredBy: 'ELITE', source: 'INCLUDED', rank: null });
    expect(lic(r, 'e101', 'EMAIL')).toBeUndefined();
  });

  it('[R-NAMED-2] Zoom PREMIUM named, 100 bought: 100 users all hold it', () => {
    const r = run(zoom, buy(zoom, { PREMIUM: 100 }), users('p', 100, ['PREMIUM']));
    expect(r.products.get('PREMIUM')).toMatchObject({ capacity: 100, granted: 100, unlicensed: 0 });
    expect(lic(r, 'p100', 'PREMIUM')).toMatchObject({ status: 'GRANTED', rank: 100 });
    // PREMIUM has no AI Expert Assist: it is an add-on there.
    expect(lic(r, 'p001', 'AI_EXPERT_ASSIST')).toBeUndefined();
    expect(lic(r, 'p001', 'COBROWSE')?.status).toBe('GRANTED');
  });
});

describe('prerequisites (R-NAMED-3)', () => {
  it('[R-NAMED-3] ORGANIZATION scope: OFFICE without a SERVER licence is MISSING_PREREQUISITE naming SERVER', () => {
    const u = user('a', [['OFFICE', 0]]);
    const r = run(xphone, buy(xphone, { OFFICE: 5 }), [u]);
    const l = lic(r, 'a', 'OFFICE');
    expect(l).toMatchObject({ status: 'MISSING_PREREQUISITE', rank: null });
    expect(l?.missing).toEqual([expect.stringMatching(/SERVER.*organization/)]);
    expect(r.products.get('OFFICE')).toMatchObject({ required: 1, granted: 0, consumed: 0, missingPrerequisite: 1, unlicensed: 0 });
    expect(userWarnings(u, r.users.get('a') ?? [], r.products)).toEqual([
      expect.objectContaining({ code: 'MISSING_PREREQUISITE', product: 'OFFICE', message: expect.stringContaining('SERVER') }),
    ]);
  });

  it('[R-NAMED-3] minQuantity: VOICEMAIL needs at least 2 IP_CHANNEL; FAX is content with 1', () => {
    const us = [
      user('a', [
        ['VOICEMAIL', 0],
        ['FAX', 0],
      ]),
    ];
    const one = run(xphone, buy(xphone, { SERVER: 1, IP_CHANNEL: 1, VOICEMAIL: 5, FAX: 5 }), us);
    expect(lic(one, 'a', 'VOICEMAIL')).toMatchObject({
      status: 'MISSING_PREREQUISITE',
      missing: [expect.stringMatching(/at least 2 IP_CHANNEL/)],
    });
    expect(lic(one, 'a', 'FAX')).toMatchObject({ status: 'GRANTED', missing: [] });
    const two = run(xphone, buy(xphone, { SERVER: 1, IP_CHANNEL: 2, VOICEMAIL: 5, FAX: 5 }), us);
    expect(lic(two, 'a', 'VOICEMAIL')).toMatchObject({ status: 'GRANTED', missing: [] });
  });

  it('[R-NAMED-3] USER scope: TEAMDESK needs OFFICE_PLUS, DASHBOARD needs CONTACTS on the same user', () => {
    const ent = buy(xphone, { SERVER: 1, OFFICE_PLUS: 5, TEAMDESK: 5, CONTACTS: 5, DASHBOARD: 5 });
    const r = run(xphone, ent, [
      user('a', [
        ['TEAMDESK', 0],
        ['DASHBOARD', 0],
      ]),
      user('b', [
        ['OFFICE_PLUS', 0],
        ['TEAMDESK', 1],
        ['CONTACTS', 0],
        ['DASHBOARD', 1],
      ]),
    ]);
    expect(lic(r, 'a', 'TEAMDESK')).toMatchObject({
      status: 'MISSING_PREREQUISITE',
      missing: [expect.stringMatching(/OFFICE_PLUS on the same user/)],
    });
    expect(lic(r, 'a', 'DASHBOARD')).toMatchObject({
      status: 'MISSING_PREREQUISITE',
      missing: [expect.stringMatching(/CONTACTS on the same user/)],
    });
    expect(statusOf(r, 'b', 'TEAMDESK')).toBe('GRANTED');
    expect(statusOf(r, 'b', 'DASHBOARD')).toBe('GRANTED');
  });

  it('[R-NAMED-3] a configured but unlicensed prerequisite does not count: the dependent is MISSING_PREREQUISITE', () => {
    const ent = buy(xphone, { SERVER: 1, CONTACTS: 1, DASHBOARD: 5 });
    const r = run(xphone, ent, [
      user('a', [['CONTACTS', 0]]),
      user('b', [
        ['CONTACTS', 1],
        ['DASHBOARD', 1],
      ]),
    ]);
    expect(statusOf(r, 'a', 'CONTACTS')).toBe('GRANTED');
    expect(lic(r, 'b', 'CONTACTS')).toMatchObject({ status: 'UNLICENSED', rank: 2 });
    expect(lic(r, 'b', 'DASHBOARD')).toMatchObject({ status: 'MISSING_PREREQUISITE', missing: [expect.stringContaining('CONTACTS')] });
    expect(r.products.get('DASHBOARD')?.consumed).toBe(0);
  });

  describe('conditions switched on by configuration-group options', () => {
    const ent = buy(xphone, { SERVER: 1, IP_CHANNEL: 2, OFFICE: 5, OFFICE_PLUS: 5, VOICEMAIL: 20, FAX: 20 });
    const voicemail = (id: string, options: string[], with_: string[] = []): AllocationUser =>
      user(id, [['VOICEMAIL', 0], ...with_.map((p): Config => [p, 0])], { options });
    const r = run(xphone, ent, [
      voicemail('none', []),
      voicemail('client-bare', ['client']),
      voicemail('client-office', ['client'], ['OFFICE']),
      voicemail('client-plus', ['client'], ['OFFICE_PLUS']),
      voicemail('mobile-office', ['mobileApp'], ['OFFICE']),
      voicemail('mobile-plus', ['mobileApp'], ['OFFICE_PLUS']),
      voicemail('sms-bare', ['smsNotification']),
      voicemail('sms-office', ['smsNotification'], ['OFFICE']),
      voicemail('sms-plus', ['smsNotification'], ['OFFICE_PLUS']),
      voicemail('all-bare', ['client', 'mobileApp', 'smsNotification']),
      user('fax-client', [['FAX', 0]], { options: ['client'] }),
      user('fax-none', [['FAX', 0]]),
    ]);
    const missing = (id: string, product = 'VOICEMAIL'): readonly string[] => lic(r, id, product)?.missing ?? ['<absent>'];

    it('[R-NAMED-3] without an option no conditional requirement applies (stand-alone voicemail and fax)', () => {
      expect(lic(r, 'none', 'VOICEMAIL')).toMatchObject({ status: 'GRANTED', missing: [] });
      expect(lic(r, 'fax-none', 'FAX')).toMatchObject({ status: 'GRANTED', missing: [] });
    });

    it('[R-NAMED-3] `client` → OFFICE or OFFICE_PLUS (anyOf)', () => {
      expect(lic(r, 'client-bare', 'VOICEMAIL')?.status).toBe('MISSING_PREREQUISITE');
      expect(missing('client-bare')).toEqual([expect.stringMatching(/OFFICE or OFFICE_PLUS on the same user \(option client\)/)]);
      expect(statusOf(r, 'client-office', 'VOICEMAIL')).toBe('GRANTED');
      expect(statusOf(r, 'client-plus', 'VOICEMAIL')).toBe('GRANTED');
      expect(lic(r, 'fax-client', 'FAX')).toMatchObject({
        status: 'MISSING_PREREQUISITE',
        missing: [expect.stringMatching(/OFFICE or OFFICE_PLUS.*client/)],
      });
    });

    it('[R-NAMED-3] `mobileApp` → OFFICE_PLUS (OFFICE is not enough)', () => {
      expect(lic(r, 'mobile-office', 'VOICEMAIL')?.status).toBe('MISSING_PREREQUISITE');
      expect(missing('mobile-office')).toEqual([expect.stringMatching(/^OFFICE_PLUS on the same user \(option mobileApp\)/)]);
      expect(statusOf(r, 'mobile-plus', 'VOICEMAIL')).toBe('GRANTED');
    });

    it('[R-NAMED-3] `smsNotification` → OFFICE (OFFICE_PLUS brings one along)', () => {
      expect(missing('sms-bare')).toEqual([expect.stringMatching(/^OFFICE on the same user \(option smsNotification\)/)]);
      expect(statusOf(r, 'sms-office', 'VOICEMAIL')).toBe('GRANTED');
      expect(statusOf(r, 'sms-plus', 'VOICEMAIL')).toBe('GRANTED');
    });

    it('[R-NAMED-3] every unmet requirement is named', () => {
      expect(missing('all-bare')).toHaveLength(3);
      expect(missing('all-bare').join('\n')).toMatch(/option client[\s\S]*option mobileApp[\s\S]*option smsNotification/);
      expect(r.products.get('VOICEMAIL')).toMatchObject({ missingPrerequisite: 4, granted: 6, required: 10 });
    });
  });
});

describe('under-licensing (R-UNDER)', () => {
  const ent = buy(xphone, { SERVER: 1, CONTACTS: 3 });
  // Configured at minutes 5, 1, 1, 3, 0: the order is e(0), b(1), c(1) by id, d(3), a(5).
  const five = [
    user('a', [['CONTACTS', 5]]),
    user('c', [['CONTACTS', 1]]),
    user('b', [['CONTACTS', 1]]),
    user('d', [['CONTACTS', 3]]),
    user('e', [['CONTACTS', 0]]),
  ];

  it('[R-UNDER-1] licences go in a fixed order: first configured, then user id', () => {
    const r = run(xphone, ent, five);
    const ranks = Object.fromEntries(five.map((u) => [u.id, lic(r, u.id, 'CONTACTS')?.rank]));
    expect(ranks).toEqual({ e: 1, b: 2, c: 3, d: 4, a: 5 });
    expect(holders(r, 'CONTACTS')).toEqual(['b', 'c', 'e']);
    expect(statusOf(r, 'd', 'CONTACTS')).toBe('UNLICENSED');
    expect(statusOf(r, 'a', 'CONTACTS')).toBe('UNLICENSED');
  });

  it('[R-UNDER-1] the first configuration counts, not a later re-configuration', () => {
    const r = run(xphone, ent, [
      ...five.filter((u) => u.id !== 'a'),
      user('a', [
        ['CONTACTS', 50, 'DIRECT'],
        ['CONTACTS', 0, 'GROUP'],
      ]),
    ]);
    expect(lic(r, 'a', 'CONTACTS')).toMatchObject({ rank: 1, status: 'GRANTED', source: 'DIRECT' });
  });

  it('[R-UNDER-1] insertion order of users and of their assignments does not change the result', () => {
    const ent2 = buy(xphone, { SERVER: 1, IP_CHANNEL: 2, OFFICE: 3, OFFICE_PLUS: 2, TEAMDESK: 1, CONTACTS: 2, DASHBOARD: 1, VOICEMAIL: 2 });
    const us: AllocationUser[] = [];
    for (let i = 0; i < 12; i++) {
      const configured: Config[] = [];
      if (i % 2 === 0) configured.push(['OFFICE', i % 5]);
      if (i % 3 === 0) configured.push(['OFFICE_PLUS', (i * 7) % 4], ['TEAMDESK', i % 3]);
      if (i % 4 !== 1) configured.push(['CONTACTS', i % 2], ['DASHBOARD', 2]);
      configured.push(['VOICEMAIL', i % 3, i % 2 === 0 ? 'DIRECT' : 'GROUP']);
      us.push(user(`u${i}`, configured, { options: i % 5 === 0 ? ['client'] : [], status: i === 7 ? 'INACTIVE' : 'ACTIVE' }));
    }
    const reference = normalize(run(xphone, ent2, us));
    let seed = 42;
    const random = (): number => (seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32;
    const shuffle = <T>(xs: readonly T[]): T[] => {
      const out = [...xs];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    };
    for (let k = 0; k < 25; k++) {
      const shuffled = shuffle(us).map((u) => ({ ...u, configured: shuffle(u.configured) }));
      expect(normalize(run(xphone, ent2, shuffled))).toEqual(reference);
    }
  });

  it('[R-UNDER-2] UNLICENSED users get a warning naming rank and capacity; holders and inactive users none', () => {
    const inactive = [user('p', [['CONTACTS', -10]], { status: 'PREPARING' }), user('q', [['CONTACTS', -9]], { status: 'INACTIVE' })];
    const all = [...five, ...inactive];
    const r = run(xphone, ent, all);
    const warnings = Object.fromEntries(all.map((u) => [u.id, userWarnings(u, r.users.get(u.id) ?? [], r.products)]));
    expect(warnings.e).toEqual([]);
    expect(warnings.b).toEqual([]);
    expect(warnings.d).toEqual([
      { code: 'UNLICENSED', product: 'CONTACTS', message: 'No CONTACTS licence: rank 4 of 5, 3 licence(s) available.' },
    ]);
    expect(warnings.a).toEqual([expect.objectContaining({ code: 'UNLICENSED', message: expect.stringContaining('rank 5 of 5') })]);
    // Inactive users are configured earliest but neither take a licence nor carry warnings.
    expect(warnings.p).toEqual([]);
    expect(warnings.q).toEqual([]);
    expect(lic(r, 'p', 'CONTACTS')).toMatchObject({ status: 'UNLICENSED', rank: null });
    expect(holders(r, 'CONTACTS')).toEqual(['b', 'c', 'e']);
    expect(r.products.get('CONTACTS')).toMatchObject({ required: 5, granted: 3, unlicensed: 2 });
  });

  it('[R-UNDER-3] removing a granted user gives the licence to the next in line', () => {
    const before = run(xphone, ent, five);
    const after = run(
      xphone,
      ent,
      five.filter((u) => u.id !== 'b'),
    );
    expect(holders(after, 'CONTACTS')).toEqual(['c', 'd', 'e']);
    expect(lic(after, 'd', 'CONTACTS')).toMatchObject({ status: 'GRANTED', rank: 3 });
    const changes = allocationChanges(before, after);
    expect(changes).toHaveLength(2);
    expect(changes).toContainEqual({ userId: 'd', product: 'CONTACTS', granted: true, detail: 'GROUP, rank 3' });
    expect(changes).toContainEqual({ userId: 'b', product: 'CONTACTS', granted: false, detail: 'no longer configured' });
  });

  it('[R-UNDER-3] a holder who becomes INACTIVE frees the licence for the next in line', () => {
    const before = run(xphone, ent, five);
    const after = run(
      xphone,
      ent,
      five.map((u) => (u.id === 'e' ? { ...u, status: 'INACTIVE' } : u)),
    );
    expect(holders(after, 'CONTACTS')).toEqual(['b', 'c', 'd']);
    expect(allocationChanges(before, after)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ userId: 'd', product: 'CONTACTS', granted: true }),
        expect.objectContaining({ userId: 'e', product: 'CONTACTS', granted: false, detail: 'now UNLICENSED' }),
      ]),
    );
  });

  it('[R-UNDER-1] the order is a function of the state: a user whose prerequisite frees up outranks a later-configured holder', () => {
    // 2 OFFICE (1 + 1 included in OFFICE_PLUS), 1 OFFICE_PLUS. v configured
    // OFFICE_PLUS (minute 2) before x (minute 3) but gets no OFFICE while u
    // holds one. When u leaves, v takes the freed OFFICE and, being first in
    // the OFFICE_PLUS order, the OFFICE_PLUS licence x held. Holding it
    // because u was there before would make holders depend on history.
    const ent2 = buy(xphone, { SERVER: 1, OFFICE: 1, OFFICE_PLUS: 1 });
    const u = user('u', [
      ['OFFICE', 0],
      ['OFFICE_PLUS', 5],
    ]);
    const x = user('x', [
      ['OFFICE', 1, 'DIRECT'],
      ['OFFICE_PLUS', 3],
    ]);
    const v = user('v', [['OFFICE_PLUS', 2]]);
    const before = run(xphone, ent2, [u, x, v]);
    expect(holders(before, 'OFFICE')).toEqual(['u', 'x']);
    expect(holders(before, 'OFFICE_PLUS')).toEqual(['x']);
    expect(statusOf(before, 'v', 'OFFICE_PLUS')).toBe('MISSING_PREREQUISITE');
    const after = run(xphone, ent2, [x, v]);
    expect(holders(after, 'OFFICE')).toEqual(['v', 'x']);
    expect(holders(after, 'OFFICE_PLUS')).toEqual(['v']);
    expect(lic(after, 'x', 'OFFICE_PLUS')).toMatchObject({ status: 'UNLICENSED', rank: 2 });
  });
});

describe('explanations (user.explain)', () => {
  it('are rendered in words on demand from decisions shared by the licences decided alike', () => {
    const us = [...users('o', 50, ['OFFICE']), user('x', [['OFFICE_PLUS', 60, 'DIRECT']], { status: 'INACTIVE' })];
    const r = run(xphone, buy(xphone, { SERVER: 1, OFFICE: 10 }), us);
    const decisions = new Set([...r.users.values()].flat().map((l) => l.decision));
    // Granted, not granted, inactive (OFFICE_PLUS and the OFFICE it includes): not one per licence.
    expect(decisions.size).toBeLessThanOrEqual(4);
    expect(licenseSteps(lic(r, 'o001', 'OFFICE') ?? assert.fail())).toEqual([
      "OFFICE is a function of the user's configuration group (configured since 2026-01-01T00:00:00.000Z).",
      'Prerequisites met.',
      'Rank 1 of 50 in the fixed order (first configured, then user id); 10 licence(s) available: granted.',
    ]);
    expect(licenseSteps(lic(r, 'o011', 'OFFICE') ?? assert.fail())).toEqual([
      "OFFICE is a function of the user's configuration group (configured since 2026-01-01T00:10:00.000Z).",
      'Prerequisites met.',
      'Rank 11 of 50 in the fixed order (first configured, then user id); only 10 licence(s) available: not granted.',
    ]);
    expect(licenseSteps(lic(r, 'x', 'OFFICE') ?? assert.fail())).toEqual([
      'OFFICE is included in OFFICE_PLUS, configured for the user (since 2026-01-01T01:00:00.000Z).',
      'The user is INACTIVE: only ACTIVE users hold licences.',
    ]);
  });
});

describe('fixed seats and cool-down capacity', () => {
  it('[R-FIX-1] connect storm PADLOCK, 1 bought: the second user is UNLICENSED', () => {
    const r = run(storm, buy(storm, { PADLOCK: 1 }), [user('s2', [['PADLOCK', 1]]), user('s1', [['PADLOCK', 0]])]);
    expect(lic(r, 's1', 'PADLOCK')).toMatchObject({ status: 'GRANTED', rank: 1 });
    expect(lic(r, 's2', 'PADLOCK')).toMatchObject({ status: 'UNLICENSED', rank: 2 });
    expect(r.products.get('PADLOCK')).toMatchObject({ allocation: 'FIXED_SEAT', capacity: 1, consumed: 1, unlicensed: 1 });
  });

  it('[R-REASSIGN-2] BASE licences bound by the cool-down cannot be held: capacity = total − bound', () => {
    const us = users('b', 3, ['BASE']);
    const r = run(storm, buy(storm, { BASE: 3 }), us, { boundByCooldown: new Map([['BASE', 1]]) });
    expect(r.products.get('BASE')).toMatchObject({ capacity: 2, consumed: 2, unlicensed: 1 });
    expect(stepsOf(r, 'b003', 'BASE')).toMatch(/1 bound by the reassignment cool-down/);
    const none = run(storm, buy(storm, { BASE: 3 }), us, { boundByCooldown: new Map([['BASE', 5]]) });
    expect(none.products.get('BASE')?.capacity).toBe(0);
  });

  it('[R-CONC-0] concurrent seats: every user with BASE is eligible whatever the seat count; without BASE the prerequisite is missing', () => {
    const agents = users('a', 5, ['BASE', 'AGENT_SEAT', 'VOICE']);
    const r = run(storm, buy(storm, { BASE: 4, AGENT_SEAT: 2, VOICE: 1 }), agents);
    expect(holders(r, 'AGENT_SEAT')).toEqual(['a001', 'a002', 'a003', 'a004']);
    expect(lic(r, 'a001', 'AGENT_SEAT')?.rank).toBeNull();
    expect(lic(r, 'a005', 'AGENT_SEAT')).toMatchObject({ status: 'MISSING_PREREQUISITE', missing: [expect.stringContaining('BASE')] });
    expect(r.products.get('AGENT_SEAT')).toMatchObject({ allocation: 'CONCURRENT', granted: 4, consumed: 0 });
    expect(holders(r, 'VOICE')).toHaveLength(4);
  });
});

describe('add-on coverage (R-ADDON-1)', () => {
  const agents = users('a', 100, ['ELITE', 'WORKFORCE_MANAGEMENT', 'QUALITY_MANAGEMENT']);
  const coverage = (r: AllocationResult, ent: EntitlementView[]) =>
    Object.fromEntries(addOnCoverage(zoom, ent, r).map(({ addOn, ...row }) => [addOn, row]));

  it('[R-ADDON-1] ELITE concurrent, 25 seats, 100 agents with WFM and QM: 25 covered, shortfall 75 each; AI Expert Assist for all', () => {
    const ent = buy(zoom, { ELITE: 25 }, { ELITE: 'CONCURRENT' });
    const r = run(zoom, ent, agents);
    expect(r.products.get('ELITE')).toMatchObject({ allocation: 'CONCURRENT', granted: 100 });
    expect(coverage(r, ent)).toEqual({
      AI_EXPERT_ASSIST: { usersRequiring: 0, coveredByBundle: 0, purchased: 0, shortfall: 0 },
      QUALITY_MANAGEMENT: { usersRequiring: 100, coveredByBundle: 25, purchased: 0, shortfall: 75 },
      WORKFORCE_MANAGEMENT: { usersRequiring: 100, coveredByBundle: 25, purchased: 0, shortfall: 75 },
    });
    agents.forEach((a, i) => {
      expect(lic(r, a.id, 'AI_EXPERT_ASSIST')).toMatchObject({ source: 'INCLUDED', status: 'GRANTED', coveredBy: 'ELITE' });
      for (const addOn of ['WORKFORCE_MANAGEMENT', 'QUALITY_MANAGEMENT']) {
        // The 25 covered are the first 25 in the fixed order; the rest have no access.
        expect(lic(r, a.id, addOn)).toMatchObject(
          i < 25 ? { status: 'GRANTED', coveredBy: 'ELITE', rank: i + 1 } : { status: 'UNLICENSED', coveredBy: null, rank: i + 1 },
        );
      }
    });
    const unlicensed = userWarnings(agents[99] as AllocationUser, r.users.get('a100') ?? [], r.products);
    expect(unlicensed.map((w) => w.product).sort()).toEqual(['QUALITY_MANAGEMENT', 'WORKFORCE_MANAGEMENT']);
  });

  it('[R-ADDON-1] AI Expert Assist configured explicitly on ELITE concurrent is covered for every agent, no shortfall', () => {
    const ent = buy(zoom, { ELITE: 25 }, { ELITE: 'CONCURRENT' });
    const r = run(zoom, ent, users('a', 100, ['ELITE', 'AI_EXPERT_ASSIST']));
    expect(coverage(r, ent).AI_EXPERT_ASSIST).toEqual({ usersRequiring: 100, coveredByBundle: 100, purchased: 0, shortfall: 0 });
    expect(holders(r, 'AI_EXPERT_ASSIST')).toHaveLength(100);
    expect(r.products.get('AI_EXPERT_ASSIST')?.consumed).toBe(0);
  });

  it('[R-ADDON-1] the covered agents are the first in the fixed order, not the first in the input', () => {
    const ent = buy(zoom, { ELITE: 2 }, { ELITE: 'CONCURRENT' });
    const us = [
      user('z', [
        ['ELITE', 0],
        ['WORKFORCE_MANAGEMENT', 9],
      ]),
      user('y', [
        ['ELITE', 0],
        ['WORKFORCE_MANAGEMENT', 1],
      ]),
      user('x', [
        ['ELITE', 0],
        ['WORKFORCE_MANAGEMENT', 1],
      ]),
    ];
    const r = run(zoom, ent, us);
    expect(holders(r, 'WORKFORCE_MANAGEMENT')).toEqual(['x', 'y']);
    expect(lic(r, 'z', 'WORKFORCE_MANAGEMENT')).toMatchObject({ status: 'UNLICENSED', rank: 3 });
  });

  it('[R-ADDON-1] buying 75 WFM grants WFM to all 100; QM still short by 75', () => {
    const ent = buy(zoom, { ELITE: 25, WORKFORCE_MANAGEMENT: 75 }, { ELITE: 'CONCURRENT' });
    const r = run(zoom, ent, agents);
    expect(holders(r, 'WORKFORCE_MANAGEMENT')).toHaveLength(100);
    expect(r.products.get('WORKFORCE_MANAGEMENT')).toMatchObject({ capacity: 75, consumed: 75, granted: 100, unlicensed: 0 });
    expect(coverage(r, ent).WORKFORCE_MANAGEMENT).toEqual({ usersRequiring: 100, coveredByBundle: 25, purchased: 75, shortfall: 0 });
    expect(coverage(r, ent).QUALITY_MANAGEMENT).toEqual({ usersRequiring: 100, coveredByBundle: 25, purchased: 0, shortfall: 75 });
  });

  it('[R-ADDON-1] ELITE named: every holder is covered, no add-on licence used', () => {
    const ent = buy(zoom, { ELITE: 100 });
    const r = run(zoom, ent, agents);
    expect(holders(r, 'WORKFORCE_MANAGEMENT')).toHaveLength(100);
    expect(holders(r, 'QUALITY_MANAGEMENT')).toHaveLength(100);
    expect(r.products.get('WORKFORCE_MANAGEMENT')?.consumed).toBe(0);
    expect(coverage(r, ent).WORKFORCE_MANAGEMENT).toEqual({ usersRequiring: 100, coveredByBundle: 100, purchased: 0, shortfall: 0 });
    expect(lic(r, 'a100', 'QUALITY_MANAGEMENT')).toMatchObject({ status: 'GRANTED', coveredBy: 'ELITE' });
  });

  it('[R-ADDON-1] on PREMIUM the add-ons must be bought for every user', () => {
    const ent = buy(zoom, { PREMIUM: 10, WORKFORCE_MANAGEMENT: 4 });
    const r = run(zoom, ent, users('p', 10, ['PREMIUM', 'WORKFORCE_MANAGEMENT', 'AI_EXPERT_ASSIST']));
    expect(holders(r, 'WORKFORCE_MANAGEMENT')).toEqual(['p001', 'p002', 'p003', 'p004']);
    expect(holders(r, 'AI_EXPERT_ASSIST')).toEqual([]);
    expect(coverage(r, ent).WORKFORCE_MANAGEMENT).toEqual({ usersRequiring: 10, coveredByBundle: 0, purchased: 4, shortfall: 6 });
    expect(coverage(r, ent).AI_EXPERT_ASSIST).toEqual({ usersRequiring: 10, coveredByBundle: 0, purchased: 0, shortfall: 10 });
  });
});

describe('licence state', () => {
  it('[R-LIFE-5] without full use (DEMO) no named licence is granted, whatever was bought', () => {
    const ent = buy(xphone, { SERVER: 1, OFFICE: 100, OFFICE_PLUS: 50, CONTACTS: 10 });
    const us = [...users('o', 3, ['OFFICE', 'CONTACTS']), ...users('p', 2, ['OFFICE_PLUS'])];
    const r = run(xphone, ent, us, { fullUse: false });
    for (const licenses of r.users.values()) for (const l of licenses) expect(l.status, `${l.product}`).not.toBe('GRANTED');
    for (const code of ['OFFICE', 'OFFICE_PLUS', 'CONTACTS'])
      expect(r.products.get(code)).toMatchObject({ capacity: 0, granted: 0, consumed: 0 });
    expect(stepsOf(r, 'o001', 'OFFICE')).toMatch(/not in full use/);
    const z = run(zoom, buy(zoom, { ELITE: 10 }), users('e', 2, ['ELITE', 'WORKFORCE_MANAGEMENT']), { fullUse: false });
    expect(holders(z, 'ELITE')).toEqual([]);
    expect(holders(z, 'WORKFORCE_MANAGEMENT')).toEqual([]);
    expect(holders(z, 'VOICE')).toEqual([]);
  });
});

/** The result as plain sorted data, for comparisons that ignore Map insertion order. */
function normalize(result: AllocationResult): unknown {
  return {
    users: [...result.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    products: [...result.products].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  };
}
