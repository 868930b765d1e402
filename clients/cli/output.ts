export { ago, fromNow, minutes, span, stateLabel } from "../sdk/format.js";

/** Rows as an aligned text table on stdout, the first row being the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    );
  }
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
