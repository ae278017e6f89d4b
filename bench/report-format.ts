// What every benchmark table is made of: a titled table of text cells, and the few ways figures are written in them
// (medians, fixed digits, counts with separators, ratios).

import type { BenchResults } from './report.js';

export interface Table {
  /** The scenario whose provenance ("Measured … with …") the Markdown shows under the title. */
  scenario?: keyof BenchResults;
  title: string;
  note: string;
  header: string[];
  rows: string[][];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export const fixed = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');
export const count = (value: number): string => Math.round(value).toLocaleString('en');
export const ratio = (value: number, base: number | undefined): string =>
  base ? `${(value / base).toFixed(2)}×` : '–';
