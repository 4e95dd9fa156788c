import { describe, expect, it } from 'vitest';
import { getCatalog, type Catalog } from '../../src/catalogs/index.ts';
import { billingPeriod, dayOf, storedDay } from '../../src/licensing/billing.ts';
import { planSession, refusal, sessionKind, type SeatPlanInput } from '../../src/licensing/session-plan.ts';
import { allocationOf, concurrentSeatProducts, DEMO_POOL } from '../../src/licensing/seats.ts';
import { grantsWithFacts } from '../../src/licensing/holder-facts.ts';

/*
 * The pure decisions of a session start ("one house to live in": one
 * concurrent-seat rule, one seat plan, one refusal), used by the start,
 * the seat usage, the allocation and the persisted pools alike.
 */

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}
const storm = catalog('connect-storm');
const zoom = catalog('zoom-contact-center');
const innoacd = catalog('innoacd');

const FULL = { fullUse: true, state: 'ACTIVE', demoAgentLimit: 2 };
const plan = (over: Partial<SeatPlanInput>) =>
  planSession({ catalog: storm, entitlements: [], status: FULL, grants: new Map(), channels: [], userName: 'Ada', ...over });

describe('concurrent seat products', () => {
  it('[R-CONC-1] are the USER products allocated CONCURRENT, in catalog order', () => {
    expect(concurrentSeatProducts(storm, []).map((p) => p.code)).toEqual(['AGENT_SEAT', 'SUPERVISOR_SEAT']);
    expect(concurrentSeatProducts(innoacd, []).map((p) => p.code)).toEqual(['ACD_AGENT']);
    expect(concurrentSeatProducts(zoom, [])).toEqual([]);
  });

  it('[R-CONC-1] follow the allocation a key chose (Zoom tiers), given as a list or a map', () => {
    const chosen = [{ product: 'PREMIUM', allocation: 'CONCURRENT' as const }];
    expect(concurrentSeatProducts(zoom, chosen).map((p) => p.code)).toEqual(['PREMIUM']);
    expect(concurrentSeatProducts(zoom, new Map(chosen.map((e) => [e.product, e]))).map((p) => p.code)).toEqual(['PREMIUM']);
    const agent = storm.products.find((p) => p.code === 'AGENT_SEAT')!;
    expect(allocationOf(agent, [{ product: 'AGENT_SEAT', allocation: 'NAMED' }])).toBe('NAMED');
    expect(allocationOf(agent, [])).toBe('CONCURRENT');
  });

  it('[R-DEMO-1] the demo pool sorts before every product code (the pool lock order)', () => {
    expect(DEMO_POOL).toBe('*DEMO');
    for (const p of storm.products) expect(DEMO_POOL < p.code).toBe(true);
  });
});

describe('planSession', () => {
  it('[R-2FA-2][R-NAMED-5] a fixed seat whose holder lacks a security key is no access: MISSING_PREREQUISITE naming the gap', () => {
    const stored = new Map([
      ['BASE', 'GRANTED'],
      ['ADMINISTRATOR', 'GRANTED'],
    ]);
    const without = grantsWithFacts(storm, stored, new Set());
    expect(without.grants.get('ADMINISTRATOR')).toBe('MISSING_PREREQUISITE');
    expect(without.grants.get('BASE')).toBe('GRANTED');
    const refused = plan({ grants: without.grants, gaps: without.gaps });
    expect(refused).toEqual({
      refusal: { code: 'MISSING_PREREQUISITE', message: expect.stringMatching(/^ADMINISTRATOR .*security key.*R-2FA-2/) },
    });
    const withKey = grantsWithFacts(storm, stored, new Set(['SECURITY_KEY']));
    expect(withKey.gaps.size).toBe(0);
    const granted = plan({ grants: withKey.grants });
    expect('plan' in granted && granted.plan.named).toBe(true);
  });

  it('[R-CONC-1][R-CHAN-1] plans one seat of each eligible product and the units of pooled channels, in code order', () => {
    const grants = new Map([
      ['SUPERVISOR_SEAT', 'GRANTED'],
      ['AGENT_SEAT', 'GRANTED'],
      ['VOICE', 'GRANTED'],
      ['EMAIL', 'MISSING_PREREQUISITE'],
    ]);
    const outcome = plan({ grants, channels: ['VOICE', 'EMAIL', 'SMS', 'FAX'] });
    if (!('plan' in outcome)) throw new Error('refused');
    expect(outcome.plan.seatProducts).toEqual(['AGENT_SEAT', 'SUPERVISOR_SEAT']);
    expect(outcome.plan.pooledChannels).toEqual([{ channel: 'VOICE', product: 'VOICE' }]);
    expect(outcome.plan.units).toEqual([
      { product: 'AGENT_SEAT', channel: null },
      { product: 'SUPERVISOR_SEAT', channel: null },
      { product: 'VOICE', channel: 'VOICE' },
    ]);
    expect(outcome.plan.deniedChannels.map((d) => [d.channel, d.code])).toEqual([
      ['EMAIL', 'MISSING_PREREQUISITE'],
      ['SMS', 'NOT_LICENSED'],
      ['FAX', 'NOT_LICENSED'],
    ]);
  });

  it('[R-CONC-1] refuses a user with no eligible seat product, saying why', () => {
    expect(plan({})).toEqual({
      refusal: { code: 'NOT_LICENSED', message: expect.stringContaining('AGENT_SEAT, SUPERVISOR_SEAT') },
    });
    expect(plan({ grants: new Map([['AGENT_SEAT', 'UNLICENSED']]) })).toEqual({
      refusal: { code: 'NOT_LICENSED', message: 'the organization has no AGENT_SEAT licences' },
    });
    expect(plan({ grants: new Map([['AGENT_SEAT', 'MISSING_PREREQUISITE']]) })).toMatchObject({
      refusal: { code: 'MISSING_PREREQUISITE' },
    });
  });

  it('[R-DEMO-1] plans one demo seat in demo mode, whatever the grants, and no channel licence', () => {
    const outcome = plan({ status: { fullUse: false, state: 'DEMO', demoAgentLimit: 2 }, channels: ['VOICE'] });
    expect(outcome).toMatchObject({
      plan: { demo: true, seatProducts: [DEMO_POOL], units: [{ product: DEMO_POOL, channel: null }], heldChannels: [] },
    });
    if ('plan' in outcome) expect(outcome.plan.deniedChannels.map((d) => d.code)).toEqual(['LICENSE_INACTIVE']);
  });

  it('[R-CHAN-1] a catalog without channel features licenses every channel with the seat', () => {
    const outcome = planSession({
      catalog: innoacd,
      entitlements: [],
      status: FULL,
      grants: new Map([['ACD_AGENT', 'GRANTED']]),
      channels: ['VOICE', 'EMAIL'],
      userName: 'Ada',
    });
    expect(outcome).toMatchObject({ plan: { heldChannels: ['VOICE', 'EMAIL'], pooledChannels: [], deniedChannels: [] } });
  });
});

describe('refusal and session kind', () => {
  it('[R-CONC-1][R-DEMO-1] every refusal names its rule', () => {
    expect(refusal({ code: 'USER_NOT_ACTIVE', userName: 'Ada', status: 'INACTIVE' })).toEqual({
      code: 'USER_NOT_ACTIVE',
      message: 'Ada is INACTIVE; only ACTIVE users may start sessions',
    });
    expect(refusal({ code: 'NO_SEAT_AVAILABLE', product: 'AGENT_SEAT' }).message).toBe(
      'all AGENT_SEAT seats are in use (capacity and emergency seats)',
    );
    expect(refusal({ code: 'DEMO_LIMIT_REACHED', state: 'DEMO', demoAgentLimit: 2 }).message).toMatch(/demo mode allows 2 session/);
  });

  it('[R-EMER-1][R-OVER-1] a session is of its most exceptional seat', () => {
    expect(sessionKind([])).toBe('REGULAR');
    expect(sessionKind(['REGULAR', 'EMERGENCY'])).toBe('EMERGENCY');
    expect(sessionKind(['OVERAGE', 'EMERGENCY', 'REGULAR'])).toBe('OVERAGE');
    expect(sessionKind(['DEMO'])).toBe('DEMO');
  });
});

describe('billing', () => {
  it('[R-TEN-2] the billing period is the calendar month (UTC); a peak belongs to the UTC day', () => {
    expect(billingPeriod(new Date('2026-12-31T23:59:59.999Z'))).toEqual({
      from: new Date('2026-12-01T00:00:00.000Z'),
      to: new Date('2027-01-01T00:00:00.000Z'),
    });
    expect(dayOf(new Date('2026-11-17T23:59:59Z'))).toBe('2026-11-17');
    expect(storedDay(new Date('2026-11-17T00:00:00Z'))).toBe('2026-11-17');
    expect(storedDay('2026-11-17')).toBe('2026-11-17');
    expect(storedDay(null)).toBeNull();
  });
});
