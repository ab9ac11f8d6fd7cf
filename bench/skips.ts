/**
 * Which contenders the bench still runs as the sizes grow. Not run at a larger size:
 * - one that was not available at a smaller size (not ready within its time-out, or exited), where
 *   it would only use its time-out again (the Pepr source, not ready at 10k in some runs, was never
 *   ready at 100k);
 * - one whose heap at the largest smaller size, grown in proportion to the pods, would pass its heap
 *   limit (the Pepr source held 78 KiB of heap a pod at 10k: 7.5 GiB at 100k, past its 4 GiB).
 */
export class Skips {
  /** the smallest size each contender was not available at */
  readonly #failedAt = new Map<string, number>();
  /** each contender's heap after its run, by size */
  readonly #heaps = new Map<string, Map<number, { heapUsed: number; heapLimit: number }>>();

  failed(key: string, pods: number): void {
    this.#failedAt.set(key, Math.min(pods, this.#failedAt.get(key) ?? Infinity));
  }

  /** the heap `key` held after its run at `pods` (bytes), and its heap limit */
  measured(key: string, pods: number, heapUsed: number, heapLimit: number): void {
    const sizes = this.#heaps.get(key) ?? new Map();
    sizes.set(pods, { heapUsed, heapLimit });
    this.#heaps.set(key, sizes);
  }

  /** why `key` is not run at `pods`, or undefined to run it */
  skip(key: string, pods: number): string | undefined {
    const failed = this.#failedAt.get(key);
    if (failed !== undefined && failed < pods) return `not run: not available at ${failed} pods`;
    const smaller = [...(this.#heaps.get(key) ?? [])].filter(([n]) => n < pods).sort(([a], [b]) => b - a)[0];
    if (!smaller) return undefined;
    const [n, { heapUsed, heapLimit }] = smaller;
    const grown = (heapUsed / n) * pods;
    if (grown <= heapLimit) return undefined;
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
    return `not run: its heap at ${n} pods (${(heapUsed / n / 1024).toFixed(1)} KiB a pod) would be ${gib(grown)} at ${pods}, past its limit of ${gib(heapLimit)}`;
  }
}
