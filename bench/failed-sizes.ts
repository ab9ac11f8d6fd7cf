/**
 * Which contenders the bench still runs as the sizes grow: one that was not available at a smaller
 * size (not ready within its time-out, or exited) is not run at a larger one, where it would only
 * use its time-out again (the Pepr source, not ready at 10k in some runs, was never ready at 100k).
 */
export class FailedSizes {
  /** the smallest size each contender was not available at */
  readonly #at = new Map<string, number>();

  failed(key: string, pods: number): void {
    this.#at.set(key, Math.min(pods, this.#at.get(key) ?? Infinity));
  }

  /** why `key` is not run at `pods`, or undefined to run it */
  skip(key: string, pods: number): string | undefined {
    const smaller = this.#at.get(key);
    return smaller !== undefined && smaller < pods ? `not run: not available at ${smaller} pods` : undefined;
  }
}
