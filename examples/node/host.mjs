// The yungui component in Node: the jco-transpiled bindings plus the registry import, and a
// decision turned into the same JSON report `yungui decide --format json` prints.

import { readFileSync } from 'node:fs';
import { useRegistry } from './registry.js';

export { makeRegistry, overlay, useRegistry } from './registry.js';

let plugin;
try {
  plugin = await import('./generated/plugin.js');
} catch (err) {
  if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('generated/plugin.js')) {
    console.error('examples/node/generated/ is missing: run `npm run transpile` first');
    process.exit(3);
  }
  throw err;
}

/** The component's `yungui:policy/decide@0.2.0` export: `decide`, `decideJson`, `controls`. */
export const component = plugin.decide;

const FAILURE_KINDS = {
  'bad-request': 'bad_request',
  'bad-entity-data': 'bad_entity_data',
  'plugin-fault': 'plugin_fault',
};

const finding = (f) => ({
  control: f.control,
  article: f.article,
  reason: f.reason,
  reason_zh: f.reasonZh,
  obligations: f.obligations,
  severity: f.severity,
});

/**
 * Decides a request given as JSON text against `registry` (from `makeRegistry`). Returns
 * `{decision: 'allow'|'deny'|'error', denials, warnings, error?: {kind, message}}`; an `error`
 * is no decision, which callers must treat as a denial.
 */
export function decideJson(requestText, registry) {
  useRegistry(registry);
  try {
    const d = component.decideJson(requestText);
    return {
      decision: d.allowed ? 'allow' : 'deny',
      denials: d.denials.map(finding),
      warnings: d.warnings.map(finding),
    };
  } catch (err) {
    // `result<_, failure>`'s err arrives as a thrown ComponentError carrying the variant.
    const failure = err?.payload;
    const error =
      failure && FAILURE_KINDS[failure.tag]
        ? { kind: FAILURE_KINDS[failure.tag], message: failure.val }
        : { kind: 'trap', message: String(err?.message ?? err) };
    return { decision: 'error', denials: [], warnings: [], error };
  }
}

/** Reads a JSON file. */
export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}
