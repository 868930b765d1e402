const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** A lifetime as people write it: "90" or "90s", "30m", "12h", "7d", "2w"; in seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim());
  if (!match || Number(match[1]) === 0)
    throw new Error(`a duration is a number and s, m, h, d or w, such as 30m, 12h or 7d (not ${JSON.stringify(text)})`);
  return Number(match[1]) * (UNITS[match[2] || "s"] as number);
}

/** A flag's whole number, or undefined when it was not given; the api checks its bounds. */
export function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`${flag} takes a whole number, not ${value}`);
  return n;
}
