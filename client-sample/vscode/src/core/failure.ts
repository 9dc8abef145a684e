// Why the server failed, said once: the last lines of its stderr kept while it runs, the one
// message a failed start shows, and when a crashed server is restarted (vscode-languageclient's
// own handler shows a notification per step, none of them with the cause). Plain module: no
// `vscode` import.

/** The last lines a process wrote to stderr (a bounded ring: the server logs all session). */
export class StderrTail {
  private lines: string[] = [];
  private partial = "";

  constructor(private readonly keep = 20) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts.filter((line) => line.trim() !== ""));
    this.lines.splice(0, Math.max(0, this.lines.length - this.keep));
  }

  /** The last `count` lines, the unfinished one included. */
  last(count: number): string[] {
    const all = this.partial.trim() !== "" ? [...this.lines, this.partial] : this.lines;
    return all.slice(-count);
  }
}

/** The one notification of a start that failed: what ran, and the cause in the server's words. */
export function startFailure(command: string[], tail: string[], error: unknown): string {
  const shown = command.join(" ");
  const spawnError = (error as { code?: unknown }).code;
  if (spawnError === "ENOENT") {
    return `The Lensflow server did not start: ${command[0]} was not found. Set lensflow.server.python to an interpreter that has Lensflow installed.`;
  }
  const message = error instanceof Error ? error.message : String(error);
  const cause = tail.length > 0 ? tail.join("\n") : message;
  return `The Lensflow server did not start (${shown}): ${cause}`;
}

/** Restart a server that crashed after it ran, up to `max` times in `windowMs`: as
 *  vscode-languageclient's default, but quiet until it gives up. */
export class CrashBudget {
  private crashes: number[] = [];

  constructor(
    private readonly max = 4,
    private readonly windowMs = 3 * 60_000,
  ) {}

  /** A crash now: true to restart, false to give up (after `max` restarts in the window). */
  restart(now: number = Date.now()): boolean {
    this.crashes = this.crashes.filter((at) => now - at < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length <= this.max;
  }
}
