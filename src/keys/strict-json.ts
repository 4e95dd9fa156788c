/**
 * JSON parsing that refuses what `JSON.parse` lets through silently: an
 * object naming a member twice (`"quantity":10,"quantity":100000` would
 * otherwise keep the last one, so two readers of one signed text could
 * disagree) and nesting deeper than any key or order has. Syntax is
 * `JSON.parse`'s (RFC 8259); the duplicate check is jsonc-parser's visitor
 * (VS Code's JSON scanner), which compares member names after unescaping, so
 * `"quantit\u0079"` is `"quantity"`.
 *
 * @example
 * parseStrictJson('{"a":1,"a":2}'); // throws StrictJsonError: duplicate member "a" in the top-level object
 */
import { visit, type JSONPath } from 'jsonc-parser';

/** Keys and orders nest three levels (object, entitlements, entitlement); anything deeper is not one. */
export const MAX_JSON_DEPTH = 8;

export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';

  constructor(
    /** SYNTAX: not JSON at all; DUPLICATE: a member named twice; DEPTH: nested too deep. */
    readonly kind: 'SYNTAX' | 'DUPLICATE' | 'DEPTH',
    message: string,
  ) {
    super(message);
  }
}

/** `entitlements[0]` for the path jsonc-parser reports; `root` names the top level in messages. */
function describe(path: JSONPath, root: string): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out === '' ? root : out;
}

/** Depth of the parsed value, without recursion (a hostile text must not exhaust the stack). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > deepest) deepest = depth;
    if (depth > MAX_JSON_DEPTH) break;
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Parses `text` as JSON and refuses duplicate member names at any depth and
 * nesting deeper than `MAX_JSON_DEPTH`.
 *
 * @param root how messages name the top-level value, e.g. "the payload"
 * @throws StrictJsonError naming the duplicate member and where it is
 */
export function parseStrictJson(text: string, root = 'the top-level object'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StrictJsonError('SYNTAX', `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  // Checked before the visitor walks the text: its parser recurses once per level.
  if (depthOf(value) > MAX_JSON_DEPTH) throw new StrictJsonError('DEPTH', `nested deeper than ${MAX_JSON_DEPTH} levels`);
  const members: Set<string>[] = [];
  let duplicate: string | null = null;
  visit(
    text,
    {
      onObjectBegin: () => {
        members.push(new Set());
      },
      onObjectEnd: () => {
        members.pop();
      },
      onObjectProperty: (name, _offset, _length, _line, _column, pathSupplier) => {
        const seen = members.at(-1);
        if (duplicate !== null || seen === undefined) return;
        if (seen.has(name)) duplicate = `duplicate member ${JSON.stringify(name)} in ${describe(pathSupplier(), root)}`;
        seen.add(name);
      },
    },
    { disallowComments: true, allowTrailingComma: false },
  );
  if (duplicate !== null) throw new StrictJsonError('DUPLICATE', duplicate);
  return value;
}
