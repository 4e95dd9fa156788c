import { describe, expect, it } from 'vitest';
import { getCatalog, type Catalog } from '../../src/catalogs/index.ts';
import { demoStartFits, demoUtilization } from '../../src/licensing/demo-switch.ts';
import { planSession, sessionKind, type SeatPlanInput } from '../../src/licensing/session-plan.ts';
import { loginLicences } from '../../src/licensing/seats.ts';

/* The pure seed rules of a session start: named sessions, concurrent features, the demo switch. */

function catalog(code: string): Catalog {
  const found = getCatalog(code);
  if (!found) throw new Error(`preset ${code} missing`);
  return found;
}
const storm = catalog('connect-storm');
const zoom = catalog('zoom-contact-center');
const FULL = { fullUse: true, state: 'ACTIVE', demoAgentLimit: 2 };
const plan = (over: Partial<SeatPlanInput>) =>
  planSession({ catalog: storm, entitlements: [], status: FULL, grants: new Map(), channels: [], userName: 'Ada', ...over });

describe('named sessions', () => {
  it('[R-NAMED-5] login licences: named Zoom tiers and connect storm fixed seats, never the base licence a seat requires', () => {
    expect(loginLicences(zoom, []).map((p) => p.code)).toEqual(['ESSENTIALS', 'PREMIUM', 'ELITE']);
    expect(loginLicences(zoom, [{ product: 'PREMIUM', allocation: 'CONCURRENT' }]).map((p) => p.code)).toEqual(['ESSENTIALS', 'ELITE']);
    expect(loginLicences(storm, []).map((p) => p.code)).toEqual(['ADMINISTRATOR', 'UC_USER', 'VIEW', 'RECORDER']);
  });

  it('[R-NAMED-5][R-FIX-1] a holder without a concurrent seat gets a named plan with no unit; a seat, when eligible, comes first', () => {
    const named = plan({ grants: new Map([['UC_USER', 'GRANTED']]) });
    expect(named).toEqual({ plan: expect.objectContaining({ named: true, seatProducts: [], units: [] }) });
    const seat = plan({
      grants: new Map([
        ['UC_USER', 'GRANTED'],
        ['AGENT_SEAT', 'GRANTED'],
      ]),
    });
    expect(seat).toEqual({ plan: expect.objectContaining({ named: false, seatProducts: ['AGENT_SEAT'] }) });
    expect(plan({ grants: new Map([['BASE', 'GRANTED']]) })).toEqual({ refusal: expect.objectContaining({ code: 'NOT_LICENSED' }) });
    expect(sessionKind([], true)).toBe('NAMED');
    expect(sessionKind(['REGULAR'], true)).toBe('NAMED');
    expect(sessionKind([])).toBe('REGULAR');
  });
});

describe('concurrent features', () => {
  it('[R-FEAT-1] a feature named by its code is a pooled unit when held, NOT_LICENSED when not; held fixed-seat features take none', () => {
    const grants = new Map([
      ['AGENT_SEAT', 'GRANTED'],
      ['CALL_RECORDING', 'GRANTED'],
      ['PADLOCK', 'GRANTED'],
    ]);
    const outcome = plan({ grants, channels: ['CALL_RECORDING', 'REPORTING', 'PADLOCK'] });
    if (!('plan' in outcome)) throw new Error('refused');
    expect(outcome.plan.pooledChannels).toEqual([{ channel: 'CALL_RECORDING', product: 'CALL_RECORDING' }]);
    expect(outcome.plan.heldChannels).toEqual(['PADLOCK']);
    expect(outcome.plan.deniedChannels.map((d) => `${d.channel}:${d.code}`)).toEqual(['REPORTING:NOT_LICENSED']);
    expect(outcome.plan.units.map((u) => u.product)).toEqual(['AGENT_SEAT', 'CALL_RECORDING']);
  });
});

describe('the demo switch', () => {
  it('[R-DEMO-2] carried-over sessions count against the limit, and show in the utilization', () => {
    expect(demoStartFits({ demoInUse: 1, carriedOver: 3 }, 2)).toBe(false);
    expect(demoStartFits({ demoInUse: 1, carriedOver: 1 }, 2)).toBe(true);
    expect(demoStartFits({ demoInUse: 2, carriedOver: 0 }, 2)).toBe(true);
    expect(demoUtilization({ inUse: 0, peakToday: 0 }, { inUse: 3, peakToday: 3 }, 2)).toEqual({
      capacity: 0,
      inUse: 3,
      maxPossible: 2,
      peakToday: 3,
    });
  });
});
