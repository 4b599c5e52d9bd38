// The page's name order (Intl.Collator, numeric, case-insensitive), fast for the common names.
// Sorting a finished 100,000-entry listing with collator.compare took 0.5–1.0 s in Node (readdir
// order is random on ext4); comparing precomputed keys as plain strings took 0.09–0.13 s.
//
// Guarantees: for names made only of ASCII letters, digits, '.', '-' and '_', under a collator whose
// locale is English, collationKey's plain string order is the collator's order (ties included:
// "A" = "a", "01" = "1"); name-order.spec.ts checks this against Intl.Collator with fast-check. Any
// other name, or any other locale (Estonian sorts z before t, Danish aa after z), goes to the
// collator itself, so the order stays the collator's for every mix of names.
// Out of scope: names whose order the collator defines some other way (other scripts, symbols).

const PLAIN = /^[A-Za-z0-9._-]*$/;

/**
 * A key whose code-unit order is an English numeric, base-sensitivity collator's order, or
 * undefined for a name outside [A-Za-z0-9._-]. Punctuation sorts before digits, digits before
 * letters (ICU's root order: '_' < '-' < '.'); a run of digits compares as a number (its length,
 * leading zeros dropped, then its digits); letters compare without case.
 */
export function collationKey(name: string): string | undefined {
  if (!PLAIN.test(name)) return undefined;
  let key = "";
  for (let i = 0; i < name.length; ) {
    const c = name.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      let end = i;
      while (end < name.length && name.charCodeAt(end) >= 48 && name.charCodeAt(end) <= 57) end++;
      let first = i;
      while (first < end - 1 && name.charCodeAt(first) === 48) first++;
      key += `\x04${String.fromCharCode(0x100 + end - first)}${name.slice(first, end)}`;
      i = end;
      continue;
    }
    key += c === 95 ? "\x01" : c === 45 ? "\x02" : c === 46 ? "\x03" : String.fromCharCode(c | 0x20);
    i++;
  }
  return key;
}

/** Whether collationKey's order is `collator`'s: English locales with numeric collation and base sensitivity. */
export function keysMatch(collator: Intl.Collator): boolean {
  const o = collator.resolvedOptions();
  return /^en(-|$)/.test(o.locale) && o.numeric === true && o.sensitivity === "base" && !o.ignorePunctuation;
}

/** A name comparison in `collator`'s order, through keys (computed once per name) where they apply. */
export function nameComparer(collator: Intl.Collator): (a: string, b: string) => number {
  if (!keysMatch(collator)) return (a, b) => collator.compare(a, b);
  const keys = new Map<string, string | undefined>();
  const keyOf = (name: string) => {
    let k = keys.get(name);
    if (k === undefined && !keys.has(name)) keys.set(name, (k = collationKey(name)));
    return k;
  };
  return (a, b) => {
    const ka = keyOf(a);
    const kb = ka === undefined ? undefined : keyOf(b);
    if (ka === undefined || kb === undefined) return collator.compare(a, b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}
