// What an attack counts as it goes (answers by code, cuts by close code, reopened sockets, the longest stall), sent
// to the parent as plain numbers by name, so the report can say what each attack met.

export type AttackCounts = Record<string, number>;

export class Counts {
  readonly values: AttackCounts = {};

  add(name: string, n = 1): void {
    this.values[name] = (this.values[name] ?? 0) + n;
  }

  /** Keeps the largest value seen under `name` (a duration, a size). */
  max(name: string, value: number): void {
    this.values[name] = Math.max(this.values[name] ?? 0, Math.round(value));
  }
}
