import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Migrations are frozen once landed: a database that ran one never runs it again, so an edit would split
// the fleet into databases built from two texts. Change the schema with a new migration, named after the
// newest one below; once it lands, add its SHA-256 here in the same commit.
const LANDED = new Map<string, string>([
  ['2026_11_22_0001_foundation.ts', 'a932058f2c70cead6b1190b3cd08b08d71a001458910936d5ca437ef949fb2ab'],
  ['2026_11_22_0002_license_keys.ts', '0f7a1b70150a599c8fe9fe9b05f8535afa0dd62e10bb8ea80589f4e89102e43c'],
  ['2026_11_22_0003_assignments.ts', '0531de6de26ace4dc7e6fe4fe167bed252509b3d08c3b41ec5853b72b22c515c'],
  ['2026_11_22_0004_seats.ts', 'f200f8e25405001ba254e9f5024b3e7ad479e75024531241bb003fe36e8dd505'],
  ['2026_11_23_0005_revision.ts', 'bb5ec0963a7e11813194a98abc6a24bc6a825028aef613ebbc6c707f823b5006'],
  ['2026_12_01_0007_token_expiry.ts', '836913c43a87a10fd05fba828a609f380757e83bee24b5a5fc3ba141c071eb65'],
  ['2026_12_01_0008_key_uniqueness.ts', '4f6cb6933f82a1dc3531452aacf6cc53e2634c1c0f4b9c8b876fa6ad97991bcf'],
  ['2026_12_01_0009_webhooks.ts', 'ceca8d73d9317176d1bba19e419ff89946f6692da02e9c1ae901f11ae17686bd'],
  ['2026_12_01_0010_session_denials.ts', '2cf7312b7da59b78f82d83e73008cc1db55a2daa94f9311001c329cfa222c4df'],
  ['2026_12_01_0011_security_keys.ts', '354c6fb24f63e7ac13ba9e1274b31cc62ca3e1af7bbfb5abe6946c7225bdf88f'],
  ['2026_12_01_0012_reservations.ts', '7b5b267dd9d508a0bb3af028a4ec4565123aaec5d0a994b6f85805ef35d808fb'],
  ['2026_12_01_0013_allocation_revision.ts', '82687699fea29d607f4438d4bfc5ca4b8d5e878cd6e53c208c406d09461d12f1'],
  ['2026_12_02_0014_events_single_index.ts', '9e550b777cea5e090bf10275b5cfc4bccc6cc3b73121cfa80027e45e6dabb71b'],
]);

const DIR = new URL('../../migrations/', import.meta.url);
const files = readdirSync(DIR)
  .filter((name) => name.endsWith('.ts'))
  .sort();

describe('migrations', () => {
  it('keeps every landed migration byte for byte', () => {
    const changed = [...LANDED].filter(([name, sha]) => {
      const text = files.includes(name) ? readFileSync(new URL(name, DIR)) : null;
      return text === null || createHash('sha256').update(text).digest('hex') !== sha;
    });
    expect(changed.map(([name]) => name)).toEqual([]);
  });

  it('adds new migrations only after the newest landed one', () => {
    const newest = [...LANDED.keys()].sort().at(-1) ?? '';
    const inserted = files.filter((name) => !LANDED.has(name) && name < newest);
    expect(inserted).toEqual([]);
  });
});
