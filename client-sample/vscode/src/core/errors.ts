// Turns what a `workspace/executeCommand` request failed with into a message a person can
// act on. Plain module: no `vscode` import.

import { METHOD_NOT_FOUND, REQUEST_CANCELLED, isObject } from "./contract";
import { DOMAIN_ERRORS, INVALID_PARAMS } from "./protocol";

/** One entry of pydantic's error list, as the server sends it in `data.errors`. */
export interface FieldError {
  loc?: readonly (string | number)[];
  msg?: string;
  type?: string;
}

/** The JSON-RPC error fields of a vscode-jsonrpc ResponseError (or any look-alike). */
export interface RpcErrorLike {
  code: number;
  message: string;
  data?: unknown;
}

export function isRpcError(error: unknown): error is RpcErrorLike {
  return isObject(error) && typeof error.code === "number" && typeof error.message === "string";
}

/** `data.kind` of a domain error (-32000…-32099), else undefined. */
export function errorKind(error: unknown): string | undefined {
  if (!isRpcError(error)) {
    return undefined;
  }
  if (isObject(error.data) && typeof error.data.kind === "string") {
    return error.data.kind;
  }
  if (error.code <= -32000 && error.code >= -32099) {
    return Object.entries(DOMAIN_ERRORS).find(([, code]) => code === error.code)?.[0];
  }
  return undefined;
}

/** "serviceName", "env.PATH", "args.3"; "(arguments)" for an error about the whole object. */
export function fieldPath(loc: readonly (string | number)[] | undefined): string {
  const parts = (loc ?? []).map(String).filter((part) => part !== "");
  return parts.length > 0 ? parts.join(".") : "(arguments)";
}

/** The field errors of a -32602 answer: "path: message" each. */
export function fieldErrors(data: unknown): string[] {
  if (!isObject(data) || !Array.isArray(data.errors)) {
    return [];
  }
  return (data.errors as unknown[]).filter(isObject).map((entry) => {
    const item = entry as FieldError;
    const loc = Array.isArray(item.loc) ? item.loc : undefined;
    const msg = typeof item.msg === "string" ? item.msg : (item.type ?? "invalid");
    return `${fieldPath(loc)}: ${msg}`;
  });
}

export function isCancellation(error: unknown): boolean {
  if (isRpcError(error) && error.code === REQUEST_CANCELLED) {
    return true;
  }
  // vscode.CancellationError, and the one vscode-languageclient throws, are named "Canceled".
  return error instanceof Error && error.name === "Canceled";
}

/** One line (or a few) for an error message box. */
export function formatError(error: unknown, command?: string): string {
  const prefix = command !== undefined ? `${command}: ` : "";
  if (isCancellation(error)) {
    return `${prefix}cancelled.`;
  }
  if (isRpcError(error)) {
    if (error.code === INVALID_PARAMS) {
      const fields = fieldErrors(error.data);
      if (fields.length > 0) {
        return `${prefix}invalid arguments — ${fields.join("; ")}`;
      }
      return `${prefix}${error.message}`;
    }
    if (error.code === METHOD_NOT_FOUND) {
      return `${prefix}the server does not know this request (${error.message}); is it an older Lensflow?`;
    }
    const kind = errorKind(error);
    return kind !== undefined ? `${prefix}${error.message} [${kind}]` : `${prefix}${error.message}`;
  }
  if (error instanceof Error) {
    return `${prefix}${error.message}`;
  }
  return `${prefix}${String(error)}`;
}
