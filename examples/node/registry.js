// The host side of `yungui:policy/registry@0.2.0`.
//
// `jco transpile --map 'yungui:policy/registry@0.2.0=../registry.js'` makes the generated
// bindings import `lookup`, `generation` and `changedSince` from this module. The registry is a
// Cedar entities JSON list, indexed by uid; `useRegistry` swaps the one the component reads. Each
// registry built here gets a new generation; an `overlay` remembers which uids it changed, so the
// component drops only those from its cache (any other registry: everything).

let nextGeneration = 1n;
/** Changes an overlay remembers (older ones are forgotten: the component then drops all). */
const HISTORY = 64;

/** The index key of an entity uid, in either of Cedar's forms (`{type, id}` or `{__entity}`). */
function keyOf(uid) {
  const plain = uid && typeof uid === 'object' && uid.__entity ? uid.__entity : uid;
  if (!plain || typeof plain.type !== 'string' || plain.type === '' || typeof plain.id !== 'string') {
    throw new Error('needs `"uid": {"type": …, "id": …}`');
  }
  return `${plain.type}\u0000${plain.id}`;
}

function index(map, entities, { replace }) {
  if (!Array.isArray(entities)) {
    throw new Error('the registry is not a Cedar entities JSON list');
  }
  entities.forEach((entity, i) => {
    let key;
    try {
      key = keyOf(entity?.uid);
    } catch (err) {
      throw new Error(`registry entity #${i}: ${err.message}`);
    }
    if (!replace && map.has(key)) {
      throw new Error(`the registry holds \`${key.replace('\u0000', '::"')}"\` twice: keep one`);
    }
    // Kept as text: `lookup` hands the component exactly this string.
    map.set(key, JSON.stringify(entity));
  });
  return map;
}

/** A registry from a parsed Cedar entities JSON list. */
export function makeRegistry(entities) {
  return {
    entities: index(new Map(), entities, { replace: false }),
    generation: nextGeneration++,
    history: [],
  };
}

/** `base` with `entities` added; one with a uid `base` holds replaces it. */
export function overlay(base, entities) {
  const map = index(new Map(base.entities), entities, { replace: true });
  const changed = entities.map((entity) => keyOf(entity.uid));
  return {
    entities: map,
    generation: nextGeneration++,
    history: [...base.history, { from: base.generation, changed }].slice(-HISTORY),
  };
}

let current = makeRegistry([]);

/** Makes `registry` the one the component reads from its next call on. */
export function useRegistry(registry) {
  current = registry;
}

// --- the import ---------------------------------------------------------------------------

/** `lookup: func(uid: entity-uid) -> result<option<string>, string>`: an in-memory registry
 * never fails (a throw would be the `err`). */
export function lookup({ typeName, id }) {
  return current.entities.get(`${typeName}\u0000${id}`); // undefined is `ok(none)`
}

/** `generation: func() -> u64` */
export function generation() {
  return current.generation;
}

/** `changed-since: func(generation: u64) -> option<list<entity-uid>>`: the uids changed since
 * `since`, or undefined (`none`: drop everything) when this registry does not descend from it. */
export function changedSince(since) {
  if (since === current.generation) {
    return [];
  }
  const start = current.history.findLastIndex((step) => step.from === since);
  if (start < 0) {
    return undefined;
  }
  const keys = new Set(current.history.slice(start).flatMap((step) => step.changed));
  return [...keys].map((key) => {
    const [typeName, id] = key.split('\u0000');
    return { typeName, id };
  });
}
