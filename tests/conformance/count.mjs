// Summarises the suite's per-scenario checks.json files (see count.sh).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [outdir, flag] = process.argv.slice(2);
const scenarios = new Map();
// The suite writes OUTDIR/server-<scenario>-<timestamp>/checks.json; keep the newest per scenario.
for (const entry of readdirSync(outdir).sort()) {
  const dir = join(outdir, entry);
  const file = join(dir, 'checks.json');
  if (!statSync(dir).isDirectory()) continue;
  let checks;
  try {
    checks = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    continue;
  }
  const match = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z?$/.exec(entry);
  const name = match ? match[1] : entry;
  scenarios.set(name, checks);
}
const summary = {
  scenarios_passed: 0, scenarios_failed: 0,
  checks_passed: 0, checks_failed: 0, checks_warnings: 0,
  failed: [], scenarios: {},
};
for (const [name, checks] of [...scenarios].sort()) {
  const count = (status) => checks.filter((c) => c.status === status).length;
  const failed = count('FAILURE');
  summary.checks_passed += count('SUCCESS');
  summary.checks_failed += failed;
  summary.checks_warnings += count('WARNING');
  summary.scenarios[name] = failed === 0 ? 'pass' : 'fail';
  if (failed === 0) summary.scenarios_passed++;
  else { summary.scenarios_failed++; summary.failed.push(name); }
}
if (scenarios.size === 0) {
  console.error(`no checks.json under ${outdir}`);
  process.exit(1);
}
if (flag === '--json') {
  console.log(JSON.stringify(summary));
} else {
  for (const key of ['scenarios_passed', 'scenarios_failed', 'checks_passed', 'checks_failed', 'checks_warnings']) {
    console.log(`${key}=${summary[key]}`);
  }
  console.log(`failed=${summary.failed.join(',')}`);
}
