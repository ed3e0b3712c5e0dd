// Decides one request and prints the decision as JSON.
//
//   node decide.mjs REQUEST.json [REGISTRY.json]
//
// The registry defaults to examples/registry.json. A request without `context.now` is decided
// at the current time. Exit code as `yungui decide`: 0 allow, 2 deny, 3 no decision.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [requestPath, registryPath] = process.argv.slice(2);
if (!requestPath) {
  console.error('usage: node decide.mjs REQUEST.json [REGISTRY.json]');
  process.exit(3);
}

const { decideJson, makeRegistry, readJson } = await import('./host.mjs');

const here = dirname(fileURLToPath(import.meta.url));
const registry = makeRegistry(readJson(registryPath ?? resolve(here, '../registry.json')));

let text = readFileSync(requestPath, 'utf8');
try {
  const request = JSON.parse(text);
  if (request && typeof request === 'object' && !Array.isArray(request)) {
    request.context ??= {};
    if (request.context && typeof request.context === 'object' && !('now' in request.context)) {
      request.context.now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    text = JSON.stringify(request);
  }
} catch {
  // Not JSON: the component says so as a bad request.
}

const report = decideJson(text, registry);
console.log(JSON.stringify(report, null, 2));
process.exitCode = { allow: 0, deny: 2 }[report.decision] ?? 3;
