/**
 * DATABASE_LISTEN_URL (src/config.ts): a direct connection for the LISTEN
 * connection and the migrations when DATABASE_URL goes through a pooler in
 * transaction mode. Refusals name the variable.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

const env = { OPERATOR_TOKEN: 'operator-token-0123456789' };

describe('DATABASE_LISTEN_URL', () => {
  it('is null when unset, and taken as given next to DATABASE_URL', () => {
    expect(loadConfig({ ...env, DATABASE_URL: 'postgres://u@pooler:6432/licensing' }).databaseListenUrl).toBeNull();
    const config = loadConfig({
      ...env,
      DATABASE_URL: 'postgres://u@pooler:6432/licensing',
      DATABASE_LISTEN_URL: ' postgresql://u@db:5432/licensing ',
    });
    expect(config.databaseUrl).toBe('postgres://u@pooler:6432/licensing');
    expect(config.databaseListenUrl).toBe('postgresql://u@db:5432/licensing');
  });

  it('refuses anything but a postgres URL, and a listen URL without DATABASE_URL (PGlite), naming the variable', () => {
    expect(() => loadConfig({ ...env, DATABASE_URL: 'postgres://u@p/l', DATABASE_LISTEN_URL: 'mysql://db/l' })).toThrow(
      /^DATABASE_LISTEN_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/,
    );
    expect(() => loadConfig({ ...env, DATABASE_LISTEN_URL: 'postgres://u@db/l' })).toThrow(/^DATABASE_LISTEN_URL: needs DATABASE_URL/);
  });
});
