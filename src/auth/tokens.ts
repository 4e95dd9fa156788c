import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_ROLES = ['ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** A new organization token: 256 random bits, recognisable prefix for secret scanners. */
export function generateToken(): string {
  return `lgw_${randomBytes(32).toString('base64url')}`;
}

/** Only this hash is stored (R-SEC-1). The secret has full entropy, so a plain SHA-256 suffices. */
export function hashToken(token: string): string {
  return secretDigest(token).toString('hex');
}

/** SHA-256 of a secret: `hashToken` is its hex, `sameSecret` compares two in constant time. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** `a` is `b` (either given as itself or as its `secretDigest`), compared in constant time whatever their lengths. */
export function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(typeof a === 'string' ? secretDigest(a) : a, typeof b === 'string' ? secretDigest(b) : b);
}
