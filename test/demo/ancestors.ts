import { readFileSync } from "node:fs";

/**
 * `npm run demo` runs npm → sh -c → tsx → node (this process). A SIGTERM to npm alone reaches
 * neither tsx nor this process: npm exits, sh dies with it, and the demo would keep listening.
 * So the demo watches the processes that started it, up to npm, and stops when one is gone.
 * Hand-written: no installed package does this, and Node has no parent-death signal.
 */
export interface Ancestor {
  pid: number;
  /** the command line, for the log line that says who went away */
  command: string;
}

interface ProcStat {
  ppid: number;
  /** field 22: with the pid, tells a process from a later one that reused its pid */
  startTime: string;
  command: string;
}

/** /proc/<pid>/stat and cmdline (Linux); undefined when the process is gone or /proc is not there. */
function stat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")"
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    // npm pads its process title with spaces
    const command = argv.join(" ").replace(/\s+/g, " ").trim();
    return { ppid: Number(fields[1]), startTime: fields[19], command };
  } catch {
    return undefined;
  }
}

/** npm itself: `npm run …`, `npm exec …` (npx) as npm titles its process. */
const isNpm = (command: string) => /^npm(\s|$)/.test(command) || /\/npm(-cli\.js)?\s/.test(command);

/**
 * The processes to watch, nearest first: the chain of parents up to and including npm, or just
 * the parent when npm did not start this process (or /proc cannot tell).
 */
export function startedBy(): (Ancestor & { startTime?: string })[] {
  const chain: (Ancestor & { startTime?: string })[] = [];
  for (let pid = process.ppid; pid > 1; ) {
    const s = stat(pid);
    if (!s) break;
    chain.push({ pid, command: s.command, startTime: s.startTime });
    if (isNpm(s.command)) return chain;
    pid = s.ppid;
  }
  return chain.length > 0 ? chain.slice(0, 1) : [{ pid: process.ppid, command: "the parent process" }];
}

/**
 * Calls `gone` once, with the first watched process found to have exited (checked every `everyMs`;
 * the timer does not keep the process alive). Returns a function that stops watching.
 */
export function watchAncestors(gone: (who: Ancestor) => void, everyMs = 500): () => void {
  const watched = startedBy();
  const parent = process.ppid;
  const timer = setInterval(() => {
    const exited = watched.find(a =>
      a.startTime === undefined ? process.ppid !== parent : stat(a.pid)?.startTime !== a.startTime,
    );
    if (!exited) return;
    clearInterval(timer);
    gone({ pid: exited.pid, command: exited.command });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
