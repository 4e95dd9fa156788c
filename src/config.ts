import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { KeyMaterialError, parseTrustedKeys, type TrustedKey } from './keys/codec.ts';

export interface Config {
  port: number;
  host: string;
  /** PostgreSQL connection string; null selects embedded PGlite in `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Pool size for PostgreSQL: the hot seat rows degrade with many more connections than cores. */
  databasePoolSize: number;
  operatorToken: string;
  /** True when OPERATOR_TOKEN was not set and a random one was generated for this run. */
  operatorTokenGenerated: boolean;
  licensePublicKeys: TrustedKey[];
  sessionTtlSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** A configuration error names the variable; `main.ts` prints it and exits non-zero. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function trustedKeys(value: string): TrustedKey[] {
  try {
    return parseTrustedKeys(value);
  } catch (error) {
    if (error instanceof KeyMaterialError) throw new ConfigError('LICENSE_PUBLIC_KEYS', error.message);
    throw error;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  let operatorToken = env.OPERATOR_TOKEN ?? '';
  const operatorTokenGenerated = operatorToken === '';
  if (operatorTokenGenerated) operatorToken = `op_${randomBytes(24).toString('base64url')}`;
  if (operatorToken.length < 16) throw new ConfigError('OPERATOR_TOKEN', 'must be at least 16 characters long');
  const logLevel = env.LOG_LEVEL ?? 'info';
  const level = LOG_LEVELS.find((l) => l === logLevel);
  if (level === undefined) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    databaseUrl,
    dataDir: resolve(env.DATA_DIR?.trim() || './data'),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    operatorToken,
    operatorTokenGenerated,
    licensePublicKeys: trustedKeys(env.LICENSE_PUBLIC_KEYS ?? ''),
    sessionTtlSeconds: integer(env, 'SESSION_TTL_SECONDS', 120, 5, 86400),
    logLevel: level,
  };
}
