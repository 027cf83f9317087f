/**
 * POSIX shell quoting. Every value that reaches a generated script (Ray launch, readiness, exported node scripts)
 * goes through here, so no config value can inject shell.
 */

/** Quotes one word for POSIX sh. Words made only of safe characters are left bare for readability. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quotes and joins an argv. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** Quotes a word in single quotes even when it needs none, for values that linters would misread bare (`a-b`). */
export function shellQuoteAlways(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
