/**
 * Keys that appear more than once in the same JSON object of `text`, as
 * `path.key` (JSON.parse keeps the last one silently, which is how a duplicate
 * goes unnoticed). Throws on text that is not JSON. RFC 8259 §4: names within
 * an object SHOULD be unique; log pipelines reject or mangle records where not.
 */
export function duplicateKeys(text: string): string[] {
  JSON.parse(text); // the grammar check; the scan below relies on well-formed input
  const dups: string[] = [];
  const stack: { keys: Set<string> | undefined; path: string; expectKey: boolean; lastKey: string }[] = [];
  let i = 0;
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  while (i < text.length) {
    const c = text[i]!;
    const top = stack[stack.length - 1];
    if (c === '{' || c === '[') {
      const path = top ? (top.keys ? `${top.path}${top.lastKey}.` : `${top.path}[].`) : '';
      stack.push({ keys: c === '{' ? new Set() : undefined, path, expectKey: c === '{', lastKey: '' });
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === ',') {
      if (top?.keys) top.expectKey = true;
      i++;
    } else if (c === '"') {
      const s = readString();
      if (top?.keys && top.expectKey) {
        if (top.keys.has(s)) dups.push(`${top.path}${s}`);
        top.keys.add(s);
        top.lastKey = s;
        top.expectKey = false;
      }
    } else {
      i++;
    }
  }
  return dups;
}
