// A Lensflow client over JSON-RPC (LSP framing) on a child process's stdio, with vscode-jsonrpc.
// Commands and notifications are typed from the protocol's JSON Schema (generated/protocol.ts).

import { spawn, type ChildProcess } from "node:child_process";
import {
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from "vscode-jsonrpc/node";

import { DOMAIN_ERRORS, type Commands, type Notifications } from "./generated/protocol";
import type { InitializeResult } from "./lsp";

/** A JSON-RPC error answer: its code, message and Lensflow's `data.kind` (domain errors). */
export class RpcError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = "RpcError";
  }

  /** `data.kind`, or the kind the schema's error table gives the code. */
  get kind(): string | undefined {
    const data = this.data as { kind?: unknown } | undefined;
    if (data && typeof data.kind === "string") return data.kind;
    const known = Object.entries(DOMAIN_ERRORS).find(([, code]) => code === this.code);
    return known?.[0];
  }

  describe(): string {
    const lines = [`JSON-RPC error ${this.code} on ${this.method}: ${this.message}`];
    lines.push(`  data.kind: ${this.kind ?? "-"}`);
    const errors = (this.data as { errors?: unknown } | undefined)?.errors;
    if (Array.isArray(errors)) {
      for (const e of errors as { loc?: unknown[]; msg?: string }[]) {
        lines.push(`  ${(e.loc ?? []).join(".") || "-"}: ${e.msg ?? JSON.stringify(e)}`);
      }
    }
    if (this.data !== undefined && this.data !== null) lines.push(`  data: ${JSON.stringify(this.data)}`);
    return lines.join("\n");
  }
}

export interface StartOptions {
  /** Interpreter that has Lensflow installed. */
  python: string;
  /** Extra server arguments, after `-m lensflow`. */
  serverArgs?: string[];
  /** Where the server's stderr (its log) goes. */
  stderr?: "inherit" | "ignore";
}

export class LensflowClient {
  private readonly connection: MessageConnection;
  private stopping = false;
  private gone = false;
  private readonly exited: Promise<number | null>;
  /** Rejects when the server dies before we stop it: every request races it. */
  private readonly died: Promise<never>;

  private constructor(readonly child: ChildProcess) {
    if (!child.stdout || !child.stdin) throw new Error("the server has no stdio pipes");
    this.connection = createMessageConnection(
      new StreamMessageReader(child.stdout),
      new StreamMessageWriter(child.stdin),
    );
    // A server that never started or died mid-write: the errors surface through `died`.
    child.stdin.on("error", () => undefined);
    child.stdout.on("error", () => undefined);
    child.once("exit", () => (this.gone = true));
    child.once("error", () => (this.gone = true));
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.once("error", () => resolve(null));
    });
    this.died = new Promise<never>((_, reject) => {
      const fail = (why: string) => {
        if (!this.stopping) reject(new Error(`the Lensflow server ${why}`));
      };
      child.once("error", (err) => fail(`could not start: ${err.message}`));
      child.once("exit", (code, signal) =>
        fail(`exited unexpectedly (code ${code ?? "-"}, signal ${signal ?? "-"})`),
      );
    });
    this.died.catch(() => undefined); // observed through the requests that race it
  }

  static start(options: StartOptions): LensflowClient {
    const child = spawn(options.python, ["-m", "lensflow", ...(options.serverArgs ?? [])], {
      stdio: ["pipe", "pipe", options.stderr ?? "inherit"],
    });
    const client = new LensflowClient(child);
    client.connection.listen();
    return client;
  }

  /** Whether the server process is still there. */
  get running(): boolean {
    return !this.gone;
  }

  /** Any LSP request; `label` names it in errors (the command, for executeCommand). */
  async request<R>(method: string, params: unknown, label = method): Promise<R> {
    if (this.gone) throw new Error(`the Lensflow server is not running (${label})`);
    try {
      return await Promise.race([
        this.connection.sendRequest<R>(method, params),
        this.died,
      ]);
    } catch (err) {
      if (err instanceof ResponseError) throw new RpcError(label, err.code, err.message, err.data);
      throw err;
    }
  }

  notify(method: string, params: unknown): Promise<void> {
    return this.connection.sendNotification(method, params);
  }

  /** A Lensflow command: `workspace/executeCommand` with exactly one argument object. */
  execute<C extends keyof Commands>(
    command: C,
    args: Commands[C]["arguments"],
  ): Promise<Commands[C]["result"]> {
    return this.request<Commands[C]["result"]>(
      "workspace/executeCommand",
      { command, arguments: [args] },
      `workspace/executeCommand ${command}`,
    );
  }

  /** One of Lensflow's notifications, typed by the schema. */
  onLensflow<N extends keyof Notifications>(
    method: N,
    handler: (params: Notifications[N]) => void,
  ): void {
    this.connection.onNotification(method, (params: Notifications[N]) => handler(params));
  }

  onNotification<P>(method: string, handler: (params: P) => void): void {
    this.connection.onNotification(method, (params: P) => handler(params));
  }

  onRequest<P, R>(method: string, handler: (params: P) => R): void {
    this.connection.onRequest(method, (params: P) => handler(params));
  }

  initialize(params: Record<string, unknown>): Promise<InitializeResult> {
    return this.request<InitializeResult>("initialize", { processId: process.pid, ...params });
  }

  /** `shutdown`, `exit`, then wait for the process to end (killing it after `graceMs`). */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (!this.gone) {
      try {
        await this.request<null>("shutdown", null);
      } finally {
        this.stopping = true;
        await this.notify("exit", null).catch(() => undefined);
      }
    }
    this.stopping = true;
    return this.waitForExit(graceMs);
  }

  /** Ends the server without the handshake (after an error). */
  async kill(graceMs = 5_000): Promise<number | null> {
    this.stopping = true;
    if (!this.gone) this.child.kill("SIGTERM");
    return this.waitForExit(graceMs);
  }

  private async waitForExit(graceMs: number): Promise<number | null> {
    if (this.child.pid === undefined) return null; // it never started
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), graceMs);
    });
    let code = await Promise.race([this.exited, late]);
    if (code === "late") {
      this.child.kill("SIGKILL");
      code = await this.exited;
    }
    clearTimeout(timer);
    this.connection.dispose();
    return code;
  }
}
