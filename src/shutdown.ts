/** Something a signal listener can be: what process.listeners() hands back. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- the type Node's listeners() returns
type Listener = Function;

/** The part of `process` shutdown uses (a test hands in an EventEmitter). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: (...args: unknown[]) => void): unknown;
  listeners(signal: NodeJS.Signals): Listener[];
}

export interface ShutdownOptions {
  /** the flag /readyz and /ready consult (lookups do not) */
  readiness: { draining: boolean };
  /** how long lookups keep being answered after /readyz turns 503 (PODINDEX_DRAIN_SECONDS) */
  drainMs: number;
  /** close the lookup server (in-flight requests finish) and stop the feeds and mirrors: PodIndexApp.stop() */
  stop: () => Promise<void>;
  /** the most stop() may take: drainMs + this after the signal, the process exits regardless (default 5000) */
  closeTimeoutMs?: number;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** process.exit unless a test says otherwise */
  exit?: (code: number) => void;
}

export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/**
 * The shutdown sequence: /readyz answers 503 "shutting down" at once; lookups keep being answered
 * for drainMs (while endpoints, kube-proxy and proxies stop sending here); then stop(); then
 * exit 0. Exits 1 if stop() fails, or if it has not finished by drainMs + closeTimeoutMs.
 */
export async function drainAndExit(o: ShutdownOptions): Promise<void> {
  const exit = o.exit ?? (code => process.exit(code));
  const boundMs = o.drainMs + (o.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
  const deadline = setTimeout(() => {
    o.log.error({ boundMs }, "shutdown did not finish in time; exiting anyway");
    exit(1);
  }, boundMs);
  o.readiness.draining = true;
  o.log.info({ drainMs: o.drainMs }, "shutting down: /readyz answers 503; lookups are answered until the drain ends");
  await new Promise(resolve => setTimeout(resolve, o.drainMs));
  o.log.info({}, "drain over: closing the lookup server and stopping the feeds");
  let code = 0;
  try {
    await o.stop();
    o.log.info({}, "podindex stopped");
  } catch (err) {
    o.log.error({ err }, "stopping podindex failed");
    code = 1;
  }
  clearTimeout(deadline);
  exit(code);
}

/**
 * On the first of `signals`, run drainAndExit; a second signal exits (1) at once. `replacing`
 * are listeners others installed that must not run (Pepr's SIGTERM handler exits at once):
 * they are removed from these signals first.
 */
export function installShutdown(
  o: ShutdownOptions & { signals: NodeJS.Signals[]; replacing?: Listener[]; process?: SignalSource },
): void {
  const proc: SignalSource = o.process ?? process;
  const exit = o.exit ?? (code => process.exit(code));
  let started = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) {
      o.log.error({ signal }, "second signal while shutting down: exiting now");
      return exit(1);
    }
    started = true;
    o.log.info({ signal }, "signal received");
    void drainAndExit({ ...o, exit });
  };
  for (const signal of o.signals) {
    for (const l of o.replacing ?? []) proc.off(signal, l as (...args: unknown[]) => void);
    proc.on(signal, () => onSignal(signal));
  }
}

/** Run `install` and return the listeners of `signal` it added (to replace them with installShutdown). */
export function listenersAddedBy(
  signal: NodeJS.Signals,
  install: () => void,
  proc: SignalSource = process,
): Listener[] {
  const before = new Set(proc.listeners(signal));
  install();
  return proc.listeners(signal).filter(l => !before.has(l));
}
