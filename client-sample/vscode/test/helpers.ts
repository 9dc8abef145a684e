// Shared by the unit tests (compiled to out/test/, run with `node --test`): the extension's
// folder, the committed JSON Schema of the contract, and an ajv validator for its definitions.

import * as fs from "node:fs";
import * as path from "node:path";

import Ajv2020 from "ajv/dist/2020";
import type { ValidateFunction } from "ajv";

/** client-sample/vscode (tests run from out/test/). */
export const EXTENSION_DIR = path.resolve(__dirname, "..", "..");
export const REPO_DIR = path.resolve(EXTENSION_DIR, "..", "..");
export const SCHEMA_PATH =
  process.env.LENSFLOW_SCHEMA ?? path.join(REPO_DIR, "protocol", "lensflow_protocol", "lensflow.schema.json");

export interface ContractSchema {
  $defs: Record<string, { properties?: Record<string, unknown>; required?: string[] } & Record<string, unknown>>;
  commands: Record<string, { arguments: { $ref: string }; result: { $ref: string }; summary?: string }>;
  notifications: Record<string, { params: { $ref: string } }>;
  errors: { domain: Record<string, number>; invalidParams: { code: number } };
  settings: { $ref: string };
}

export const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, "utf8")) as ContractSchema;

export function readJson(relative: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(EXTENSION_DIR, relative), "utf8"));
}

/** The definition a `{"$ref": "#/$defs/X"}` points at. */
export function definition(ref: { $ref: string }): ContractSchema["$defs"][string] {
  const name = ref.$ref.replace("#/$defs/", "");
  const found = schema.$defs[name];
  if (found === undefined) {
    throw new Error(`schema has no $defs/${name}`);
  }
  return found;
}

const ajv = new Ajv2020({ allErrors: true, strict: true });
// The contract's own top-level sections are annotations, not JSON Schema keywords.
ajv.addVocabulary(["commands", "notifications", "errors", "settings"]);
ajv.addSchema(schema, "lensflow");

const validators = new Map<string, ValidateFunction>();

/** A validator for a JSON pointer into the schema, e.g. "/commands/lensflow.deploy/arguments". */
export function validatorFor(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `lensflow#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** Validates `value` and returns ajv's errors as "path message" lines ([] when valid). */
export function schemaErrors(pointer: string, value: unknown): string[] {
  const validate = validatorFor(pointer);
  if (validate(value)) {
    return [];
  }
  return (validate.errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`.trim());
}

/** A JSON pointer from segments ("lensflow/runOutput" → "lensflow~1runOutput"). */
export function pointer(...segments: string[]): string {
  return segments.map((s) => `/${s.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}
