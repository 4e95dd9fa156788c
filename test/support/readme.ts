/** The README's runnable blocks (test/e2e/readme.test.ts runs them; GraphiQL's tabs are checked against them). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The sections whose blocks run, in this order. */
const SECTIONS = ['Quick start', 'Named licences, seats and usage'];

export type ReadmeStep =
  | { kind: 'sh'; line: string }
  | { kind: 'headers'; text: string }
  | { kind: 'operation'; name: string; query: string; variables: string | null };

/** The text of `## title` up to the next `## ` heading. */
export function readmeSection(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${title}"`);
  const end = README.indexOf('\n## ', start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

/** Fenced blocks of `text`, in order. */
export function fencedBlocks(text: string): { lang: string; body: string }[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', body: m[2] ?? '' }));
}

/** The operation of a block: exactly one, and named. */
export function operationOf(query: string): OperationDefinitionNode {
  const definitions = parse(query).definitions;
  const operations = definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (definitions.length !== 1 || operations.length !== 1)
    throw new Error(`a README block holds ${definitions.length} definitions:\n${query}`);
  const [operation] = operations;
  if (!operation?.name) throw new Error(`a README operation has no name:\n${query}`);
  return operation;
}

/** The README's steps: shell lines, header blocks, operations with the variables block that follows them. */
export function readmeSteps(): ReadmeStep[] {
  const steps: ReadmeStep[] = [];
  for (const title of SECTIONS) {
    for (const block of fencedBlocks(readmeSection(title))) {
      if (block.lang === 'sh') {
        for (const raw of block.body.split('\n')) {
          const line = raw.replace(/\s+#.*$/, '').trim();
          if (line) steps.push({ kind: 'sh', line });
        }
      } else if (block.lang === 'json' && 'Authorization' in (JSON.parse(block.body) as object)) {
        steps.push({ kind: 'headers', text: block.body });
      } else if (block.lang === 'json') {
        const last = steps.at(-1);
        if (last?.kind !== 'operation' || last.variables !== null)
          throw new Error(`a variables block follows no operation:\n${block.body}`);
        last.variables = block.body;
      } else if (block.lang === 'graphql') {
        steps.push({ kind: 'operation', name: operationOf(block.body).name?.value ?? '', query: block.body, variables: null });
      } else {
        throw new Error(`unexpected \`\`\`${block.lang} block in a README section that runs:\n${block.body}`);
      }
    }
  }
  return steps;
}
