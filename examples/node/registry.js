// The host side of `yungui:policy/registry@0.1.0`.
//
// `jco transpile --map 'yungui:policy/registry@0.1.0=../registry.js'` makes the generated
// bindings import `lookup` and `generation` from this module. The registry is a Cedar entities
// JSON list, indexed by uid; `useRegistry` swaps the one the component reads, and each registry
// built here gets a new generation, so the component drops entities it cached from another one.

let nextGeneration = 1n;

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
  return { entities: index(new Map(), entities, { replace: false }), generation: nextGeneration++ };
}

/** `base` with `entities` added; one with a uid `base` holds replaces it. */
export function overlay(base, entities) {
  return {
    entities: index(new Map(base.entities), entities, { replace: true }),
    generation: nextGeneration++,
  };
}

let current = makeRegistry([]);

/** Makes `registry` the one the component reads from its next call on. */
export function useRegistry(registry) {
  current = registry;
}

// --- the import ---------------------------------------------------------------------------

/** `lookup: func(uid: entity-uid) -> option<string>` */
export function lookup({ typeName, id }) {
  return current.entities.get(`${typeName}\u0000${id}`); // undefined is `none`
}

/** `generation: func() -> u64` */
export function generation() {
  return current.generation;
}
