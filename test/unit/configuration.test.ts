/**
 * What a configuration change may not do (src/licensing/configuration.ts),
 * over allocations computed by `allocate` on the connect-storm preset, no
 * database: the refusals changeConfiguration turns into BAD_USER_INPUT.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../src/catalogs/index.ts';
import { allocate, type AllocationUser } from '../../src/licensing/allocation.ts';
import { configurationRefusal, noSlotRefusal, type AllocationOutcome } from '../../src/licensing/configuration.ts';
import { entitlementsOf } from '../../src/licensing/entitlements.ts';

const storm = getCatalog('connect-storm')!;
const NAMES = new Map([
  ['u1', 'Ann'],
  ['u2', 'Bob'],
]);
const name = (id: string) => NAMES.get(id) ?? id;

function outcome(
  bought: Record<string, number>,
  users: Record<string, string[]>,
  fullUse = true,
  statuses: Record<string, string> = {},
): AllocationOutcome {
  const entitlements = entitlementsOf(
    storm,
    Object.entries(bought).map(([product, quantity]) => ({
      product,
      quantity,
      allocation: null,
      emergencyQuantity: 0,
      overageAllowed: null,
      overageGraceMinutes: null,
    })),
  );
  const list: AllocationUser[] = Object.entries(users).map(([id, products], i) => ({
    id,
    status: statuses[id] ?? 'ACTIVE',
    options: [],
    configured: products.map((product) => ({ product, source: 'DIRECT' as const, configuredAt: new Date(Date.UTC(2026, 0, 1, 0, i)) })),
  }));
  return { catalog: storm, entitlements, fullUse, result: allocate({ catalog: storm, entitlements, fullUse, users: list }) };
}

describe('configuration refusals', () => {
  it('[R-NAMED-2] a REFUSE product beyond what was bought is refused, naming the user it was for', () => {
    const before = outcome({ BASE: 1 }, { u1: ['BASE'] });
    const after = outcome({ BASE: 1 }, { u1: ['BASE'], u2: ['BASE'] });
    expect(configurationRefusal(before, after, { field: 'input.product' }, name)).toEqual({
      field: 'input.product',
      message: 'all 1 BASE licences are held; take one from another user before giving it to Bob',
      rule: 'R-NAMED-2',
    });
    // Without full use nothing is granted, so nothing is refused; nor is a user who already went without.
    expect(configurationRefusal(before, outcome({ BASE: 1 }, { u1: ['BASE'], u2: ['BASE'] }, false), { field: 'f' }, name)).toBeNull();
    expect(configurationRefusal(after, after, { field: 'f' }, name)).toBeNull();
  });

  it('[R-FIX-1] a fixed seat is bound to its holder: a second user is refused, naming the holder', () => {
    const before = outcome({ BASE: 2, ADMINISTRATOR: 1 }, { u1: ['BASE', 'ADMINISTRATOR'], u2: ['BASE'] });
    const after = outcome({ BASE: 2, ADMINISTRATOR: 1 }, { u1: ['BASE', 'ADMINISTRATOR'], u2: ['BASE', 'ADMINISTRATOR'] });
    expect(configurationRefusal(before, after, { field: 'input.functions' }, name)).toEqual({
      field: 'input.functions',
      message: 'ADMINISTRATOR is a fixed seat bound to Ann; nobody else may hold it',
      rule: 'R-FIX-1',
    });
  });

  it('[R-NAMED-3] a direct assignment with an unmet prerequisite is refused; so is removing what a held product needs', () => {
    const none = outcome({ BASE: 2, AGENT_SEAT: 2 }, { u1: [] });
    const seatOnly = outcome({ BASE: 2, AGENT_SEAT: 2 }, { u1: ['AGENT_SEAT'] });
    const refused = configurationRefusal(none, seatOnly, { field: 'input.product', direct: { userId: 'u1', product: 'AGENT_SEAT' } }, name);
    expect(refused).toMatchObject({ field: 'input.product', rule: 'R-NAMED-3' });
    expect(refused?.message).toMatch(/^AGENT_SEAT cannot be assigned to Ann: it needs /);

    const both = outcome({ BASE: 2, AGENT_SEAT: 2 }, { u1: ['BASE', 'AGENT_SEAT'] });
    const removed = configurationRefusal(both, seatOnly, { field: 'input.product', protectDependents: true }, name);
    expect(removed).toMatchObject({ rule: 'R-NAMED-3' });
    expect(removed?.message).toMatch(/^Ann's AGENT_SEAT needs it \(.*\); remove AGENT_SEAT first$/);
    // Without protectDependents the same removal goes ahead (the unassignment path alone asks for it).
    expect(configurationRefusal(both, seatOnly, { field: 'input.product' }, name)).toBeNull();
  });

  it('[R-TEN-4] [R-NAMED-2] a user made ACTIVE with every licence held is refused, naming them, whether they rank before the holder or after', () => {
    // u1 configured first but PREPARING; u2 holds the only licence.
    const before = outcome({ BASE: 1 }, { u1: ['BASE'], u2: ['BASE'] }, true, { u1: 'PREPARING' });
    const after = outcome({ BASE: 1 }, { u1: ['BASE'], u2: ['BASE'] });
    expect(configurationRefusal(before, after, { field: 'input.status' }, name)).toEqual({
      field: 'input.status',
      message: 'all 1 BASE licences are held; take one from another user before giving it to Ann',
      rule: 'R-NAMED-2',
    });
    // u2 configured last and PREPARING: it would go without; still refused, naming u2.
    const late = outcome({ BASE: 1 }, { u1: ['BASE'], u2: ['BASE'] }, true, { u2: 'INACTIVE' });
    expect(configurationRefusal(late, after, { field: 'input.status' }, name)?.message).toContain('giving it to Bob');
  });

  it('[R-TEN-5] without any key, or after it lapsed, the refusal names the licence state and who was to become ACTIVE', () => {
    const empty = { total: 0, held: 0, bound: 0, reusable: 0, inUse: 0, available: 0 };
    expect(noSlotRefusal('input.status', 'BASE', empty, 0, 90, 'NONE', 'Ann cannot become ACTIVE')).toEqual({
      field: 'input.status',
      message:
        'Ann cannot become ACTIVE: no BASE licence can be assigned: no licence key is active (licence state NONE); activate a key with activateLicenseKey first',
      rule: 'R-LIFE-5',
    });
    expect(noSlotRefusal('input.status', 'BASE', empty, 0, 90, 'DEMO')).toMatchObject({ rule: 'R-LIFE-5' });
    expect(noSlotRefusal('input.status', 'BASE', empty, 0, 90, 'DEMO').message).toContain('licence state DEMO');
    expect(noSlotRefusal('input.status', 'BASE', empty, 0, 90, 'PENDING')).toMatchObject({ rule: 'R-KEY-4' });
  });

  it('[R-REASSIGN-1] no free or reusable base licence slot: the refusal counts held and bound licences', () => {
    expect(noSlotRefusal('input.userIds', 'BASE', { total: 3, held: 2, bound: 1, reusable: 0, inUse: 3, available: 0 }, 3, 90)).toEqual({
      field: 'input.userIds',
      message: 'no BASE licence can be assigned: 2 of 3 are held and 1 are bound by the 90-day reassignment cool-down',
      rule: 'R-REASSIGN-1',
    });
  });
});
