/*
 * Statements compiled once per shape.
 *
 * Kysely builds a statement's tree and prints its SQL on every execution.
 * For the one-statement start (a CTE of six parts and about thirty
 * parameters) that was a fifth of the gateway's own request work in the
 * storm's profile, and it also makes a new 4 KB string every time, which
 * the named-statement lookup (db/prepared.ts) must hash again. Here the
 * statement is written once per shape with Kysely's `sql` from named values
 * only; the first execution of a shape prints it with a placeholder for
 * each value and records which value each parameter is. Later executions
 * reuse that text (the same string) and only fill in the parameters.
 *
 * The rule for `build`: use the values only as parameters (`${v.name}`),
 * never compute with them (no `JSON.stringify(v.x)`, no branches on them):
 * whatever would differ between executions belongs in `shape`, or is
 * computed before. A value a shape does not use is left undefined.
 * test/integration/compiled-statements.test.ts compares the result with a
 * fresh compile for every shape.
 */
import { CompiledQuery, type RawBuilder } from 'kysely';

/** A value's place in a statement being compiled: stands for `name` until the statement is executed. */
class Slot {
  constructor(readonly name: string) {}
}

interface Printed {
  sql: string;
  /** Per parameter: the value's name, or a constant the statement itself carries. */
  parameters: ({ slot: string } | { constant: unknown })[];
}

/** The compiled shapes of one database's statements (held by GatewayDb, one per pool). */
export class CompiledStatements {
  readonly #printed = new Map<string, Printed>();

  /**
   * The statement `key`/`shape` with `values`: printed by `build` the first
   * time (see the rule above), then only its parameters filled in.
   */
  query<V extends Record<string, unknown>, R>(
    key: string,
    shape: string,
    values: V,
    build: (v: V) => RawBuilder<R>,
    compile: (builder: RawBuilder<R>) => CompiledQuery<R>,
  ): CompiledQuery<R> {
    const id = `${key} ${shape}`;
    let printed = this.#printed.get(id);
    if (printed === undefined) {
      const slots = Object.fromEntries(Object.keys(values).map((name) => [name, new Slot(name)]));
      // A name `values` does not have would print as a constant `undefined`: refused.
      const strict = new Proxy(slots, {
        get: (target, name) => {
          if (typeof name === 'string' && !(name in target)) throw new Error(`statement ${key}: no value named ${name}`);
          return Reflect.get(target, name);
        },
      }) as unknown as V;
      const compiled = compile(build(strict));
      printed = {
        sql: compiled.sql,
        parameters: compiled.parameters.map((p) => (p instanceof Slot ? { slot: p.name } : { constant: p })),
      };
      // A value read other than as a parameter (a property of it, a computation) never shows up as one.
      const used = new Set(printed.parameters.flatMap((p) => ('slot' in p ? [p.slot] : [])));
      // (A value this shape does not use is left undefined.)
      const unused = Object.keys(values).filter((name) => !used.has(name) && values[name] !== undefined);
      if (unused.length > 0 || printed.parameters.some((p) => 'constant' in p && p.constant === undefined))
        throw new Error(`statement ${key} (${shape}): values not used as parameters: ${unused.join(', ') || 'an undefined constant'}`);
      this.#printed.set(id, printed);
    }
    return CompiledQuery.raw(
      printed.sql,
      printed.parameters.map((p) => ('slot' in p ? values[p.slot] : p.constant)),
    ) as CompiledQuery<R>;
  }
}
