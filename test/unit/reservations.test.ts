import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admitSeat, boundsProblem, claimedSeats, type SeatBound, type UnitSeats } from '../../src/licensing/reservations.ts';

/* The pure rules of reservations and caps (R-RES-1 … R-RES-5), over random login and logout sequences. */

const BERLIN: SeatBound = { siteId: 'berlin', groupId: null, reserved: 3, cap: 6, label: 'site Berlin' };
const TEAM: SeatBound = { siteId: 'berlin', groupId: 'team', reserved: 2, cap: null, label: 'group Team' };
const TEMPS: SeatBound = { siteId: 'munich', groupId: 'temps', reserved: 0, cap: 2, label: 'group Temps' };
const MEMBERS = [
  { siteId: 'berlin', groupId: null },
  { siteId: 'berlin', groupId: 'team' },
  { siteId: 'munich', groupId: 'temps' },
  { siteId: 'munich', groupId: null },
] as const;

const held = (seats: UnitSeats[], f: (s: UnitSeats) => boolean) => seats.filter(f).reduce((n, s) => n + s.seats, 0);

describe('reservations and caps (pure)', () => {
  it('[R-RES-3][R-RES-5] under any login/logout sequence caps hold, reservations are kept and a unit below its reservation is admitted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 10 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.record({ member: fc.nat(3), leave: fc.boolean() }), { maxLength: 60 }),
        (capacity, emergency, steps) => {
          const bounds = [BERLIN, TEAM, TEMPS];
          expect(boundsProblem('AGENT_SEAT', capacity, bounds)).toBeNull();
          const seats: UnitSeats[] = [];
          for (const { member, leave } of steps) {
            const m = MEMBERS[member]!;
            const mine = seats.findIndex((s) => s.siteId === m.siteId && s.groupId === m.groupId);
            if (leave) {
              if (mine >= 0) seats.splice(mine, 1);
              continue;
            }
            const inUse = held(seats, () => true);
            const pool = { capacity, emergencyCapacity: emergency, overageAllowed: false, inUse };
            const refusal = inUse >= capacity + emergency ? { code: 'NO_SEAT_AVAILABLE' } : admitSeat('AGENT_SEAT', pool, bounds, seats, m);
            const team = held(seats, (s) => s.groupId === 'team');
            const berlin = held(seats, (s) => s.siteId === 'berlin');
            // A member of a unit below its reservation (and its cap) is never refused while the pool has a seat.
            if (m.groupId === 'team' && team < TEAM.reserved && berlin < 6 && inUse < capacity + emergency) expect(refusal).toBeNull();
            if (refusal === null) seats.push({ siteId: m.siteId, groupId: m.groupId, seats: 1 });
            // Caps and the pool hold; the seats in use plus unused reservations never pass capacity + emergency.
            expect(held(seats, (s) => s.siteId === 'berlin')).toBeLessThanOrEqual(6);
            expect(held(seats, (s) => s.groupId === 'temps')).toBeLessThanOrEqual(2);
            expect(
              claimedSeats(
                held(seats, () => true),
                bounds,
                seats,
              ),
            ).toBeLessThanOrEqual(capacity + emergency);
          }
        },
      ),
    );
  });

  it('[R-RES-1][R-RES-2] refused bound sets name the numbers', () => {
    expect(boundsProblem('AGENT_SEAT', 4, [BERLIN, { ...TEMPS, siteId: 'munich', groupId: null, reserved: 2, label: 'site Munich' }])).toBe(
      'AGENT_SEAT: the reservations would total 5 seat(s) but the pool has 4 regular seat(s) (R-RES-1)',
    );
    expect(boundsProblem('AGENT_SEAT', 10, [{ ...BERLIN, reserved: 1 }, TEAM])).toContain(
      'the groups of site Berlin would reserve 2 seat(s) (group Team 2) but site Berlin reserves 1',
    );
    expect(boundsProblem('AGENT_SEAT', 10, [{ ...TEMPS, reserved: 3 }])).toContain('cap 2 must be a whole number ≥ its reservation of 3');
  });
});
