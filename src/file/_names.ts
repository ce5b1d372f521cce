// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A lock name as the name of its directory inside `dir`: one path
 * component that no name can turn into another path, on any file system.
 *
 * Only `a-z`, `0-9`, `_` and `-` are kept; every other UTF-8 byte, capitals
 * included, becomes `%XX`. So the result has no separator, no `.` or `..`,
 * no character Windows forbids, no trailing dot or space, and two names that
 * differ only in case stay apart on a case-insensitive file system (macOS,
 * Windows). It starts with `lock-`, so that it is never a reserved device
 * name (`CON`, `NUL`, `COM1`, … even with an extension). A long name keeps
 * a readable head and ends in a SHA-256 of the whole name, so that it stays
 * within the 255-byte limit of a file name.
 */

/** Names that encode longer than this are shortened with a hash. */
const MAX_ENCODED = 160;
/** How much of the encoded name a shortened one keeps. */
const HEAD = 100;

/** The directory name of lock `name` (see the module doc). */
export function lockDirName(
  name: string,
  sha256: (text: string) => string,
): string {
  let encoded = "";
  for (const byte of new TextEncoder().encode(name)) {
    encoded += (byte >= 0x61 && byte <= 0x7a) || // a-z
        (byte >= 0x30 && byte <= 0x39) || // 0-9
        byte === 0x5f || byte === 0x2d // _ -
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (encoded.length > MAX_ENCODED) {
    // "~" is encoded in the long form (%7E), so a short name never ends
    // like a shortened one.
    let head = encoded.slice(0, HEAD);
    const cut = head.lastIndexOf("%");
    if (cut > HEAD - 3) head = head.slice(0, cut);
    encoded = `${head}~${sha256(name).slice(0, 32)}`;
  }
  return `lock-${encoded}`;
}

/** Whether `name` has a lone surrogate, which has no UTF-8 form of its own. */
export function hasLoneSurrogate(name: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
    .test(name);
}
