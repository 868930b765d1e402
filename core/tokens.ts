/**
 * Bearer tokens, GitHub's style: `gaol_`, 30 random base62 characters, then a 6-character
 * base62 CRC32 of the random part. A leaked token is recognisable by its prefix, and a
 * mistyped or made-up one is refused without asking the database.
 */
export const TOKEN_PREFIX = "gaol_";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LENGTH = 30;
const CHECKSUM_LENGTH = 6;
const CHECKSUMMED = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);
/** Tokens made before checksums: `gaol_` and 32 random bytes in base64url, stored as sha256 like the rest. */
const LEGACY = new RegExp(`^${TOKEN_PREFIX}[A-Za-z0-9_-]{43}$`);
/** How much of a token is kept and shown to tell tokens apart: the prefix and 5 random characters. */
const SHOWN_LENGTH = TOKEN_PREFIX.length + 5;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE, as zlib's) of an ASCII string. */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checksumOf(random: string): string {
  let n = crc32(random);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A new token: 30 characters (~178 bits) from the platform's CSPRNG, then their checksum. */
export function newToken(): string {
  let random = "";
  while (random.length < RANDOM_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(RANDOM_LENGTH))) {
      // 248 = 4 × 62: dropping the rest keeps every character equally likely.
      if (byte < 248 && random.length < RANDOM_LENGTH) random += BASE62[byte % 62];
    }
  }
  return `${TOKEN_PREFIX}${random}${checksumOf(random)}`;
}

/** What a presented token can be: a checksummed one whose checksum holds, an old one, or nothing worth a lookup. */
export function tokenShape(token: string): "checksummed" | "legacy" | undefined {
  if (CHECKSUMMED.test(token)) {
    const body = token.slice(TOKEN_PREFIX.length);
    const random = body.slice(0, RANDOM_LENGTH);
    return checksumOf(random) === body.slice(RANDOM_LENGTH) ? "checksummed" : undefined;
  }
  return LEGACY.test(token) ? "legacy" : undefined;
}

/** The part of a token that is stored and listed in clear: enough to tell tokens apart, far too little to use. */
export function shownPrefix(token: string): string {
  return token.slice(0, SHOWN_LENGTH);
}

/** Why a request's token let no one in, so the refusal can say what to do. */
export type TokenRefusal = { kind: "missing" | "malformed" | "unknown" } | { kind: "expired" | "revoked"; at: Date };

/** What a person should do about a refused token: the tail of the top-level "Not authorized" error. */
export function refusalAdvice(refusal: TokenRefusal): string {
  const anew = "ask an admin for a new one (gaol token create)";
  switch (refusal.kind) {
    case "missing":
      return "no token was sent: send yours as the header Authorization: Bearer gaol_…";
    case "malformed":
      return "this is not a whole gaol token (gaol_ and 36 letters or digits): check it was copied in full";
    case "unknown":
      return `this token is unknown: ${anew}`;
    case "expired":
      return `this token expired at ${refusal.at.toISOString()}: ${anew}`;
    case "revoked":
      return `this token was revoked at ${refusal.at.toISOString()}: ${anew}`;
  }
}
