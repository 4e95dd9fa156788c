/**
 * How the command-line tools end: exit code 0 (done), 1 (refused or failed)
 * or 2 (usage error), and one line on stderr saying which.
 */
import { ConfigError } from '../config.ts';

/** Wrong arguments: exit code 2 with a pointer to `--help`. */
export class UsageError extends Error {}
/** A refusal the tool expects (a coded refusal, a locked DATA_DIR): one line, exit code 1. */
export class Refusal extends Error {}

/**
 * Runs `main` and sets the exit code from its answer or its error.
 *
 * @example
 * runCli('migrate', 'migration failed', main);
 * // a UsageError → "migrate: <message> (run with --help for usage)", exit code 2
 */
export function runCli(name: string, failure: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof UsageError) {
        console.error(`${name}: ${message} (run with --help for usage)`);
        process.exitCode = 2;
        return;
      }
      console.error(
        error instanceof ConfigError
          ? `configuration error: ${message}`
          : error instanceof Refusal
            ? `${name}: ${message}`
            : `${failure}: ${message}`,
      );
      process.exitCode = 1;
    },
  );
}
