import { describe, expect, it } from 'vitest';
import { noticePayload, parseNotice } from '../../src/db/announcer.ts';
import { newId } from '../../src/ids.ts';

/*
 * A live notice arrives by NOTIFY, which any database user can send on the
 * channel: the hub reads the events it names, so only what noticePayload
 * writes may reach a query. Anything else (an empty or oversized id list,
 * ids that are not ids, a range of other things, another shape, not JSON)
 * is no notice; the hub's reconciliation still reads what a lost notice
 * would have announced.
 */

describe('live notice payloads', () => {
  const org = newId();

  it('[R-LIVE-1] what noticePayload writes parses back to the same notice: ids, and a range beyond 100', () => {
    const few = [newId(), newId(), newId()];
    expect(parseNotice(noticePayload(org, few))).toEqual({ o: org, ids: [...few].sort() });
    const many = Array.from({ length: 101 }, () => newId());
    const sorted = [...many].sort();
    expect(parseNotice(noticePayload(org, many))).toEqual({ o: org, from: sorted[0], to: sorted.at(-1) });
  });

  it('[R-LIVE-1] a notice of any other shape is none: nothing of it reaches a query', () => {
    const id = newId();
    const hostile = [
      'not json',
      'null',
      '[]',
      '"text"',
      JSON.stringify({ o: 42, ids: [id] }),
      JSON.stringify({ o: 'org', ids: [id] }),
      JSON.stringify({ o: org }),
      JSON.stringify({ o: org, ids: [] }),
      JSON.stringify({ o: org, ids: 'x' }),
      JSON.stringify({ o: org, ids: [123] }),
      JSON.stringify({ o: org, ids: ['not-an-id'] }),
      JSON.stringify({ o: org, ids: [`${id}' or '1'='1`] }),
      JSON.stringify({ o: org, ids: Array.from({ length: 101 }, () => id) }),
      JSON.stringify({ o: org, from: 5, to: {} }),
      JSON.stringify({ o: org, from: id }),
      JSON.stringify({ o: org, from: newId(), to: id }),
    ];
    for (const payload of hostile) expect(parseNotice(payload), payload).toBeNull();
  });
});
