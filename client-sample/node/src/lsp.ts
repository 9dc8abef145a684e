// The few LSP shapes this client sends and reads (LSP 3.17). Lensflow's own commands and
// notifications are typed from its JSON Schema instead: see generated/protocol.ts.

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Command {
  title: string;
  command: string;
  arguments?: unknown[];
}

export interface CodeLens {
  range: Range;
  command?: Command;
  data?: unknown;
}

export interface InitializeResult {
  capabilities: {
    executeCommandProvider?: { commands: string[] };
    codeLensProvider?: { resolveProvider?: boolean };
    [key: string]: unknown;
  };
  serverInfo?: { name: string; version?: string };
}

export interface Diagnostic {
  range: Range;
  message: string;
  severity?: number;
  code?: string | number;
}

export interface PublishDiagnosticsParams {
  uri: string;
  diagnostics: Diagnostic[];
}

export type ProgressValue =
  | { kind: "begin"; title: string; message?: string; percentage?: number; cancellable?: boolean }
  | { kind: "report"; message?: string; percentage?: number }
  | { kind: "end"; message?: string };

export interface ProgressParams {
  token: string | number;
  value: ProgressValue;
}

export interface LogMessageParams {
  type: number;
  message: string;
}
