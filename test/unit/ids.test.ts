import { describe, expect, it } from 'vitest';
import { firstIdAt, idTimeMs, isId, newId } from '../../src/ids.ts';

describe('ids (UUIDv7)', () => {
  it('an id gives back the millisecond it was made at; a string that is not an id gives NaN', () => {
    const at = new Date('2026-12-03T14:00:00.123Z');
    expect(idTimeMs(newId(at))).toBeGreaterThanOrEqual(at.getTime());
    expect(idTimeMs(firstIdAt(at.getTime()))).toBe(at.getTime());
    expect(idTimeMs('not an id')).toBeNaN();
  });

  it('firstIdAt(ms) sorts before every id made at ms or later, and after every id made before', () => {
    const ms = Date.parse('2026-12-03T14:00:00.000Z');
    const floor = firstIdAt(ms);
    expect(isId(floor)).toBe(true);
    // newId never goes back within a process: ids made "before" are built by hand from an earlier floor.
    const made = newId(new Date(ms + 5));
    expect(floor < made).toBe(true);
    expect(firstIdAt(ms - 1).replace(/0{12}$/, 'ffffffffffff') < floor).toBe(true);
  });
});
