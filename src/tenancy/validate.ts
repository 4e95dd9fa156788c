import { badInput } from '../errors.ts';

const MAX_NAME = 200;
// Control characters make names unprintable in admin front ends and logs.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A display name: trimmed, 1..200 characters, no control characters. */
export function cleanName(field: string, value: string): string {
  const name = value.normalize('NFC').trim();
  if (name.length === 0) throw badInput(field, 'must not be empty');
  if ([...name].length > MAX_NAME) throw badInput(field, `must be at most ${MAX_NAME} characters`);
  if (CONTROL.test(name)) throw badInput(field, 'must not contain control characters');
  return name;
}

export function cleanOptionalText(field: string, value: string | null | undefined): string | null {
  if (value == null) return null;
  const text = value.trim();
  return text === '' ? null : cleanName(field, text);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function cleanEmail(field: string, value: string | null | undefined): string | null {
  if (value == null || value.trim() === '') return null;
  const email = value.trim();
  if (email.length > 320 || !EMAIL.test(email)) throw badInput(field, 'is not an e-mail address');
  return email;
}
