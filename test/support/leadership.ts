import type { Leadership } from "../../src/manager/leadership";

/** A Leadership a test flips by hand (set()); it notes being started and stopped in `log`. */
export class FlipLeadership implements Leadership {
  #leading = false;
  readonly #listeners: ((leading: boolean) => void)[] = [];

  constructor(private readonly log: string[] = []) {}

  isLeader(): boolean {
    return this.#leading;
  }

  onChange(cb: (leading: boolean) => void): void {
    this.#listeners.push(cb);
  }

  async start(): Promise<void> {
    this.log.push("start leadership");
  }

  async stop(): Promise<void> {
    this.log.push("stop leadership");
  }

  set(leading: boolean): void {
    this.#leading = leading;
    for (const cb of this.#listeners) cb(leading);
  }
}
