import { mkdir, writeFile } from "node:fs/promises";

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** The benchmark's numbers, in the order they were measured: a table on stdout and JSON on disk. */
export class Results {
  readonly rows: Array<{ name: string; value: number | string; unit: string }> = [];

  set(name: string, value: number | string, unit = ""): void {
    this.rows.push({ name, value: typeof value === "number" ? Number(value.toFixed(3)) : value, unit });
  }

  /** p50 and the given upper quantile of samples (n shown). */
  samples(name: string, samples: number[], unit = "ms", upper = 0.99): void {
    if (samples.length === 0) {
      this.set(name, "no samples");
      return;
    }
    this.set(`${name} p50`, quantile(samples, 0.5), unit);
    this.set(`${name} p${Math.round(upper * 100)}`, quantile(samples, upper), unit);
    this.set(`${name} n`, samples.length);
  }

  print(): void {
    const width = Math.max(...this.rows.map((r) => r.name.length));
    for (const r of this.rows) console.log(`${r.name.padEnd(width)}  ${String(r.value).padStart(10)} ${r.unit}`);
  }

  async write(file: string): Promise<void> {
    await mkdir("test-artifacts", { recursive: true });
    const json = Object.fromEntries(this.rows.map((r) => [r.unit ? `${r.name} (${r.unit})` : r.name, r.value]));
    await writeFile(file, `${JSON.stringify({ at: new Date().toISOString(), results: json }, null, 2)}\n`);
  }
}
