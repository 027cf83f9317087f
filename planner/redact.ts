/**
 * What a message may echo of a config value: never a credential, never an unbounded amount of text.
 *
 * Problem lines end up in terminals, CI logs and PR comments, and a secret put in the wrong place (a token under an
 * unknown key, a private key pasted into an SSH field, `--api-key …` in `extraArgs`) is exactly the value a problem
 * is about. `displayValue` is what every problem line (`planner/problems.ts`) and every warning that quotes a config
 * value shows: credentials are masked down to a prefix that says what they are (`hf_***`, `-----BEGIN OPENSSH PRIVATE
 * KEY-----***`), flags and names around them stay, so the line can still be found in the file, and long values are cut
 * with their length shown.
 */

/** The most characters of a value a message shows. */
export const MAX_SHOWN = 80;
/** What replaces a credential. */
export const MASK = "***";

/**
 * Well-known token formats, by the prefix that says what they are (kept in front of the mask): Hugging Face
 * (`hf_`, `api_org_`), GitHub, GitLab, OpenAI/Anthropic-style `sk-`, Stripe, Slack, npm, Pulumi access tokens,
 * DigitalOcean, Google OAuth and API keys, JWTs, AWS access key ids.
 */
const TOKEN =
  /(?<![\w-])((?:hf_|api_org_|gh[pousr]_|github_pat_|glpat-|sk-(?:proj-|ant-)?|sk_(?:live|test)_|rk_live_|xox[abprs]-|npm_|pul-|dop_v1_|ya29\.|AIza|eyJ)(?=[\w.+/=-]{6})|(?:AKIA|ASIA)(?=[0-9A-Z]{16}))[\w.+/=-]+/g;

/** A PEM block (private key, certificate): its BEGIN line is kept, everything after it is masked. */
const PEM = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*/g;

/** Words that make a key, variable or flag name say its value is a credential (not `tokens`, not `tokenizer`). */
const CREDENTIAL_WORDS =
  /token(?!s|izer)|secret|passw(or)?d|passphrase|credential|apikey|privatekey|accesskey|authorization|cookie/;

/** `hfToken`, `HF_TOKEN`, `--api-key`, `privateKey`, `OPENAI_KEY`: a name whose value is a credential. */
export function isCredentialName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
  // `secure` is how a stack file holds a Pulumi ciphertext: not the secret, but not for echoing either.
  return CREDENTIAL_WORDS.test(words.join("")) || words.at(-1) === "key" || name === "secure";
}

/** Shannon entropy in bits per character. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/**
 * A long random-looking run of letters and digits: at least 20 mixing upper case, lower case and digits, or at least
 * 32 letters and digits that are not hexadecimal (commit hashes and image digests stay visible), with at least 3.5
 * bits of entropy per character. Model ids, image tags and flag names have short runs between their separators.
 */
function isHighEntropyRun(run: string): boolean {
  if (run.length < 20 || entropy(run) < 3.5) return false;
  const letters = /[a-zA-Z]/.test(run) && /\d/.test(run);
  const mixedCase = /[a-z]/.test(run) && /[A-Z]/.test(run);
  return letters && (mixedCase || (run.length >= 32 && !/^[0-9a-fA-F]+$/.test(run)));
}

/** What a masked value keeps: the BEGIN line of a PEM block or a known token prefix. */
function maskedForm(value: string): string {
  const pem = /^\s*(-----BEGIN [A-Z0-9 ]+-----)/.exec(value);
  if (pem) return `${pem[1]}${MASK}`;
  TOKEN.lastIndex = 0;
  const token = TOKEN.exec(value);
  return `${token && token.index === 0 ? token[1] : ""}${MASK}`;
}

/** `--api-key=x`, `--hf-token x`, `HF_TOKEN=x`, `password: x`: a name, a separator and the value after it. */
const NAMED_VALUE = /((?:--?)?[A-Za-z_][\w.-]*)(\s*[=:]\s*|\s+)("[^"]*"|'[^']*'|[^\s"',;]+)/g;

/** Masks the value after every name that says credential; a value that is not masked may be a name itself. */
function maskNamedValues(text: string): string {
  let out = "";
  let last = 0;
  NAMED_VALUE.lastIndex = 0;
  for (let m = NAMED_VALUE.exec(text); m !== null; m = NAMED_VALUE.exec(text)) {
    const [, name, sep, value] = m;
    const valueAt = m.index + name.length + sep.length;
    if (isCredentialName(name) && !value.startsWith(MASK)) {
      out += `${text.slice(last, valueAt)}${maskedForm(value)}`;
      last = valueAt + value.length;
      NAMED_VALUE.lastIndex = last;
    } else {
      NAMED_VALUE.lastIndex = valueAt;
    }
  }
  return out + text.slice(last);
}

/** `text` with every credential in it masked; flag and key names around them are kept. */
export function maskCredentials(text: string): string {
  let out = text.replace(PEM, (block) => maskedForm(block));
  out = maskNamedValues(out);
  out = out.replace(TOKEN, (_all, prefix: string) => `${prefix}${MASK}`);
  return out.replace(/[\w.+/=-]+/g, (run) =>
    run.split(/[^A-Za-z0-9]+/).some(isHighEntropyRun) ? maskedForm(run) : run,
  );
}

/** Longest text masked as a whole: a message shows at most `MAX_SHOWN` characters, so longer text is cut first. */
const MASK_WINDOW = 8192;

/** Control characters, line and paragraph separators and bidirectional overrides: they would break or disguise a line. */
function isInvisible(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** `text` with invisible characters written as `\uXXXX` escapes. */
function escapeInvisible(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0;
    out += isInvisible(code) ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

/** At most `max` characters of `text`; when cut, it ends saying how long the value was (`length`). */
function cut(text: string, length: number, max = MAX_SHOWN): string {
  if (text.length <= max) return text;
  const note = `… [${length} characters]`;
  return `${text.slice(0, max - note.length)}${note}`;
}

/** A string with its credentials masked, or all of it when its name says credential; very long ones cut first. */
function maskString(value: string, secretName: boolean): string {
  const window = value.length > MASK_WINDOW ? value.slice(0, MASK_WINDOW) : value;
  return secretName && value !== "" ? maskedForm(window) : maskCredentials(window);
}

/**
 * Free text that may quote a config value (a YAML parser's message naming an alias or a tag) for a message: masked,
 * escaped, at most `max` characters.
 */
export function displayText(text: string, max = MAX_SHOWN): string {
  return cut(escapeInvisible(maskString(text, false)), text.length, max);
}

/** A copy of `value` with every credential masked: under a name that says credential, or by what a string looks like. */
function maskDeep(value: unknown, secretName: boolean): unknown {
  if (typeof value === "string") return maskString(value, secretName);
  if (typeof value === "number" || typeof value === "boolean") return secretName ? MASK : value;
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, secretName));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [displayKey(k), maskDeep(v, secretName || isCredentialName(k))]),
    );
  }
  return value;
}

/** YAML's spelling of the numbers JSON has none for (`JSON.stringify(NaN)` is "null"). */
function nonFinite(n: number): string {
  if (Number.isNaN(n)) return ".nan";
  return n > 0 ? ".inf" : "-.inf";
}

/** A value a message must not show at all, whatever it looks like (an unknown top-level key may be a mistyped secret). */
export class Hidden {
  constructor(readonly why = "not shown") {}
}

/**
 * A config value as a message shows it: JSON (strings quoted), credentials masked, at most `MAX_SHOWN` characters.
 * `name` is the key, variable or flag the value belongs to: when it says credential, the whole value is masked.
 */
export function displayValue(value: unknown, name?: string): string {
  if (value === undefined) return "(missing)";
  if (value instanceof Hidden) return `(${value.why})`;
  if (typeof value === "number" && !Number.isFinite(value)) return nonFinite(value);
  const secretName = name !== undefined && isCredentialName(name);
  const text = JSON.stringify(maskDeep(value, secretName), (_k, v: unknown) =>
    typeof v === "number" && !Number.isFinite(v) ? nonFinite(v) : v,
  );
  if (text === undefined) return cut(escapeInvisible(String(value)), String(value).length);
  return cut(escapeInvisible(text), typeof value === "string" ? value.length : text.length);
}

/** A key (a path segment) for a message: a key can be a pasted secret or a whole file too. */
export function displayKey(key: string): string {
  const masked = escapeInvisible(maskString(key, false));
  return masked.length <= 64 ? masked : `${masked.slice(0, 40)}…`;
}
