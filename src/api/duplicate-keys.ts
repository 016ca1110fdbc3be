/** A key given twice in one JSON object, with where that object is. */
export interface DuplicateKey {
  /** The key, decoded (`"dry\u005frun"` is `dry_run`). */
  key: string;
  /** Path of the key: `dry_run`, `iocs[3].tags`. */
  path: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
/** Above this many keys an object's keys go in a Set; below, a linear search is cheaper. */
const LINEAR_KEYS = 16;

/**
 * The first key that appears twice in one object of a JSON text, or undefined. JSON.parse
 * keeps the last of two equal keys without a word, so `{"dry_run":true,"dry_run":false}`
 * would quietly be a real run. One pass over the bytes, jumping from quote to quote with
 * indexOf; malformed JSON is left for JSON.parse to refuse. The open containers are kept in
 * typed arrays: 5 MB of `[` is 5 M levels, and an object a level would cost far more.
 */
export function findDuplicateKey(body: Buffer): DuplicateKey | undefined {
  let capacity = 64;
  /** 1 for an object, 0 for an array, by level. */
  let isObject = new Uint8Array(capacity);
  /** Where an object's keys start in `keys`; an array's current index. */
  let slot = new Uint32Array(capacity);
  let expectKey = new Uint8Array(capacity);
  /** The key being read in each open object, for the path. */
  const keyAt: string[] = [];
  /** Keys of large objects, by level. */
  const sets = new Map<number, Set<string>>();
  // The keys of every open object, innermost last; an object's keys are dropped as it closes.
  const keys: string[] = [];
  let depth = 0;
  const length = body.length;
  let i = 0;
  while (i < length) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = closingQuote(body, i + 1);
      if (end < 0) return undefined;
      const top = depth - 1;
      if (depth > 0 && isObject[top] === 1 && expectKey[top] === 1) {
        const key = decodeKey(body, i + 1, end);
        if (key === undefined) return undefined;
        if (seen(sets, top, slot[top]!, keys, key)) {
          return { key, path: pathOf(isObject, slot, keyAt, top, key) };
        }
        keyAt[top] = key;
        expectKey[top] = 0;
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth === capacity) {
        capacity *= 2;
        isObject = grow(isObject, new Uint8Array(capacity));
        slot = grow(slot, new Uint32Array(capacity));
        expectKey = grow(expectKey, new Uint8Array(capacity));
      }
      const object = c === OPEN_OBJECT;
      isObject[depth] = object ? 1 : 0;
      slot[depth] = object ? keys.length : 0;
      expectKey[depth] = 1;
      depth += 1;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0) {
        depth -= 1;
        if (isObject[depth] === 1) {
          keys.length = slot[depth]!;
          sets.delete(depth);
        }
      }
    } else if (c === COMMA && depth > 0) {
      if (isObject[depth - 1] === 1) expectKey[depth - 1] = 1;
      else slot[depth - 1]! += 1;
    }
    i += 1;
  }
  return undefined;
}

function grow<T extends Uint8Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Whether the object at `level` already has `key`; records it otherwise. */
function seen(
  sets: Map<number, Set<string>>,
  level: number,
  first: number,
  keys: string[],
  key: string,
): boolean {
  const set = sets.get(level);
  if (set) {
    if (set.has(key)) return true;
    set.add(key);
    return false;
  }
  for (let k = first; k < keys.length; k += 1) if (keys[k] === key) return true;
  keys.push(key);
  if (keys.length - first > LINEAR_KEYS) {
    sets.set(level, new Set(keys.slice(first)));
    keys.length = first;
  }
  return false;
}

/** The path of `key` in the object at level `top`. */
function pathOf(
  isObject: Uint8Array,
  slot: Uint32Array,
  keyAt: readonly string[],
  top: number,
  key: string,
): string {
  let path = '';
  for (let level = 0; level < top; level += 1) {
    if (isObject[level] === 1) {
      const at = keyAt[level] ?? '';
      path += path === '' ? at : `.${at}`;
    } else path += `[${slot[level]}]`;
  }
  return path === '' ? key : `${path}.${key}`;
}

/** Index of the quote that ends a string starting at `from`, or -1. */
function closingQuote(body: Buffer, from: number): number {
  let at = body.indexOf(QUOTE, from);
  while (at >= 0) {
    let backslashes = 0;
    while (body[at - 1 - backslashes] === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return at;
    at = body.indexOf(QUOTE, at + 1);
  }
  return -1;
}

/** The key as JSON.parse would read it; plain ASCII (the usual case) is decoded cheaply. */
function decodeKey(body: Buffer, start: number, end: number): string | undefined {
  let plain = true;
  for (let b = start; b < end; b += 1) {
    const c = body[b]!;
    if (c === BACKSLASH || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return body.toString('latin1', start, end);
  try {
    return JSON.parse(`"${body.toString('utf8', start, end)}"`) as string;
  } catch {
    return undefined;
  }
}
