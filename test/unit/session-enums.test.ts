import { getNamedType, isEnumType, isNonNullType, isNullableType } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { EventRow, SessionRow } from '../../src/db/schema.ts';
import { EVENT_TYPES, eventOf } from '../../src/events/event.ts';
import { getSchema } from '../../src/schema/index.ts';
import { END_REASONS, sessionOf } from '../../src/sessions/session.ts';

/*
 * Sessions and events leave the database through one mapper each, which
 * checks the stored strings against the enums the API declares
 * (Session.endReason: SessionEndReason, LicenseEvent.type: EventType).
 */

const field = (type: string, name: string) => {
  const owner = getSchema().getType(type);
  if (!owner || !('getFields' in owner)) throw new Error(`no type ${type}`);
  const found = owner.getFields()[name];
  if (!found) throw new Error(`no field ${type}.${name}`);
  return found.type;
};

const session: SessionRow = {
  organization_id: '01JDQ0000000000000000000AA',
  id: '01JDQ0000000000000000000AB',
  user_id: '01JDQ0000000000000000000AC',
  seat_kind: 'EMERGENCY',
  started_at: new Date('2026-11-22T10:00:00Z'),
  expires_at: new Date('2026-11-22T10:02:00Z'),
  ended_at: new Date('2026-11-22T10:01:00Z'),
  end_reason: 'USER_INACTIVE',
  channels: [],
  device_id: null,
  api_token_id: null,
};

const event: EventRow = {
  organization_id: session.organization_id,
  id: '01JDQ0000000000000000000AD',
  at: session.started_at,
  type: 'SESSION_STARTED',
  user_id: session.user_id,
  product_code: 'AGENT_SEAT',
  detail: 'AGENT_SEAT REGULAR',
  api_token_id: null,
  actor: 'system',
};

describe('session and event enums', () => {
  it('[R-CONC-3] Session.endReason is the nullable enum SessionEndReason of every end reason', () => {
    const type = field('Session', 'endReason');
    expect(isNullableType(type)).toBe(true);
    const named = getNamedType(type);
    expect(isEnumType(named) && named.name).toBe('SessionEndReason');
    if (isEnumType(named)) expect(named.getValues().map((v) => v.name)).toEqual([...END_REASONS]);
  });

  it('[R-EVENT-1] LicenseEvent.type is the enum EventType of every event the gateway writes', () => {
    const type = field('LicenseEvent', 'type');
    expect(isNonNullType(type)).toBe(true);
    const named = getNamedType(type);
    expect(isEnumType(named) && named.name).toBe('EventType');
    if (isEnumType(named)) expect(new Set(named.getValues().map((v) => v.name))).toEqual(new Set(EVENT_TYPES));
  });

  it('[R-EVENT-1] the mappers pass known values and refuse a stored string no enum has', () => {
    expect(sessionOf(session)).toEqual(session);
    expect(sessionOf({ ...session, end_reason: null, ended_at: null, seat_kind: 'DEMO' }).seat_kind).toBe('DEMO');
    expect(() => sessionOf({ ...session, end_reason: 'LOGGED_OFF' })).toThrow(/end reason LOGGED_OFF/);
    expect(() => sessionOf({ ...session, seat_kind: 'GOLD' })).toThrow(/seat kind GOLD/);
    expect(eventOf(event)).toEqual(event);
    expect(() => eventOf({ ...event, type: 'SESSION_PAUSED' })).toThrow(/type SESSION_PAUSED/);
  });
});
