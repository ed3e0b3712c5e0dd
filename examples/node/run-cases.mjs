// Runs every golden case (tests/cases/**/*.json) through the component and checks each outcome
// the way `yungui test` does (host/src/cases.rs). Prints `pass FILE` or `FAIL FILE: why` per case
// and `N passed, M failed`; exits 1 on any failure.
//
//   node run-cases.mjs [CASES_DIR_OR_FILE...]     (default: ../../tests/cases)

import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const started = performance.now();
const { decideJson, makeRegistry, overlay, readJson } = await import('./host.mjs');
const loadMs = performance.now() - started;

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

function walk(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (statSync(child).isDirectory()) walk(child, out);
      else if (name.endsWith('.json')) out.push(child);
    }
  } else {
    out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const files = (args.length ? args.map((a) => resolve(a)) : [join(root, 'tests/cases')])
  .flatMap((p) => walk(p, []))
  .sort();

const registries = new Map(); // registry file -> registry, each read once
function registryFor(caseFile, kase) {
  let base;
  if (kase.registry !== undefined) {
    const path = resolve(dirname(caseFile), kase.registry);
    base = registries.get(path);
    if (!base) {
      base = makeRegistry(readJson(path));
      registries.set(path, base);
    }
  } else {
    base = makeRegistry([]);
  }
  return kase.entities?.length ? overlay(base, kase.entities) : base;
}

const setOf = (xs) => [...new Set(xs)].sort();
const sameSet = (a, b) => JSON.stringify(setOf(a)) === JSON.stringify(setOf(b));
const show = (xs) => JSON.stringify(setOf(xs));

function check(expect, report) {
  const problems = [];
  if (!['allow', 'deny', 'error'].includes(expect.decision)) {
    problems.push(`expect.decision must be allow, deny or error, not ${JSON.stringify(expect.decision)}`);
  } else if (expect.decision !== report.decision) {
    problems.push(`expected ${expect.decision}, got ${report.decision}`);
  }
  const denials = report.denials.map((f) => f.control);
  if (!sameSet(denials, expect.denials ?? [])) {
    problems.push(`denials: expected ${show(expect.denials ?? [])}, got ${show(denials)}`);
  }
  if (expect.warnings != null) {
    const warnings = report.warnings.map((f) => f.control);
    if (!sameSet(warnings, expect.warnings)) {
      problems.push(`warnings: expected ${show(expect.warnings)}, got ${show(warnings)}`);
    }
  }
  if (expect.error != null && report.error && expect.error !== report.error.kind) {
    problems.push(`error: expected ${expect.error}, got ${report.error.kind}`);
  }
  if (problems.length && report.error) {
    problems.push(`the component said (${report.error.kind}): ${report.error.message}`);
  }
  return problems;
}

let passed = 0;
let failed = 0;
const callMs = [];
for (const file of files) {
  const name = relative(root, file);
  let problems;
  try {
    const kase = readJson(file);
    const registry = registryFor(file, kase);
    const request = JSON.stringify(kase.request);
    const t0 = performance.now();
    const report = decideJson(request, registry);
    callMs.push(performance.now() - t0);
    problems = check(kase.expect ?? {}, report);
  } catch (err) {
    problems = [String(err?.message ?? err)];
  }
  if (problems.length === 0) {
    passed += 1;
    console.log(`pass ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}: ${problems.join('; ')}`);
  }
}

if (process.env.YUNGUI_TIMINGS && callMs.length) {
  const rest = callMs.slice(1).sort((a, b) => a - b);
  const mean = rest.reduce((s, x) => s + x, 0) / Math.max(rest.length, 1);
  const median = rest.length ? rest[Math.floor(rest.length / 2)] : 0;
  console.error(
    `timings: load+compile ${loadMs.toFixed(1)} ms, first call ${callMs[0].toFixed(1)} ms, ` +
      `then over ${rest.length} calls mean ${mean.toFixed(2)} ms, median ${median.toFixed(2)} ms, ` +
      `max ${(rest.at(-1) ?? 0).toFixed(2)} ms`,
  );
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
