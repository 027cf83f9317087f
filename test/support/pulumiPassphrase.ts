/**
 * Pulumi's passphrase secrets provider, for checking the example stacks offline: a stack file's `encryptionsalt` is
 * `v1:<base64 salt>:v1:<base64 nonce>:<base64 AES-256-GCM of "pulumi">`, and each `secure:` value is
 * `v1:<base64 nonce>:<base64 ciphertext+tag>`, under a key derived with PBKDF2-SHA256 (1,000,000 iterations, 32 bytes)
 * from the passphrase and the salt (pulumi/pulumi `pkg/secrets/passphrase/manager.go`,
 * `sdk/go/common/resource/config/crypt.go`).
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from "node:crypto";

const ITERATIONS = 1_000_000;
const TAG_BYTES = 16;

export function passphraseKey(passphrase: string, salt: Buffer): Buffer {
  return pbkdf2Sync(passphrase, salt, ITERATIONS, 32, "sha256");
}

export function encryptValue(key: Buffer, plaintext: string, nonce: Buffer = randomBytes(12)): string {
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
}

export function decryptValue(key: Buffer, value: string): string {
  const [version, nonce, body] = value.split(":");
  if (version !== "v1" || nonce === undefined || body === undefined) throw new Error(`not a v1 secret: ${value}`);
  const raw = Buffer.from(body, "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(0, raw.length - TAG_BYTES)), decipher.final()]).toString("utf8");
}

/** The key of a stack's `encryptionsalt`, after checking the passphrase against it (as `pulumi` does). */
export function keyFromSalt(passphrase: string, encryptionSalt: string): Buffer {
  const [version, salt, ...rest] = encryptionSalt.split(":");
  if (version !== "v1" || salt === undefined) throw new Error(`malformed encryptionsalt: ${encryptionSalt}`);
  const key = passphraseKey(passphrase, Buffer.from(salt, "base64"));
  if (decryptValue(key, rest.join(":")) !== "pulumi") throw new Error("incorrect passphrase");
  return key;
}

/** A new `encryptionsalt` for `passphrase` and its key (what `pulumi stack init` writes). */
export function newEncryptionSalt(passphrase: string): { encryptionSalt: string; key: Buffer } {
  const salt = randomBytes(8);
  const key = passphraseKey(passphrase, salt);
  return { encryptionSalt: `v1:${salt.toString("base64")}:${encryptValue(key, "pulumi")}`, key };
}
