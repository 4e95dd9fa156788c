#!/usr/bin/env node
// Commit messages: a subject of at most 72 characters and a body that says why (merge commits excepted).
// Checks every commit after SINCE (the commit that introduced this rule); older history stays as it is.
// Usage: node scripts/check-commits.mjs            (from the repository root, in .ci/run)
import { execFileSync } from 'node:child_process';

const SINCE = '4386088';
const MAX_SUBJECT = 72;
// Merged before this check first ran in CI; kept as they are (history is not rewritten).
const EXEMPT = new Set([
  '32c08e0b4e1d1d4e963ff6ce4914aa758ae6e4ed',
  'efe4b7c076ac3c127f32b1357054ffb47e55f783',
  '315e277e1b117ed8da9628c839ad076cd5dd72f5',
]);
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' });

try {
  git('cat-file', '-e', `${SINCE}^{commit}`);
} catch {
  console.log(`check-commits: ${SINCE} is not in this clone (shallow?); nothing to check`);
  process.exit(0);
}
const records = git('log', '--no-merges', '--format=%H%x00%s%x00%b%x1e', `${SINCE}..HEAD`)
  .split('\x1e')
  .map((record) => record.replace(/^\n/, ''))
  .filter(Boolean);
const problems = [];
for (const record of records) {
  const [hash, subject, body = ''] = record.split('\x00');
  if (EXEMPT.has(hash)) continue;
  const short = hash.slice(0, 10);
  if (subject.length > MAX_SUBJECT)
    problems.push(`${short}: subject has ${subject.length} characters (at most ${MAX_SUBJECT}): ${subject}`);
  if (body.trim() === '') problems.push(`${short}: no body saying why: ${subject}`);
}
if (problems.length > 0) {
  console.error(`check-commits: ${problems.length} problem(s)\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`check-commits: ${records.length} commit(s) after ${SINCE}, each with a short subject and a body`);
