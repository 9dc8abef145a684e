#!/usr/bin/env node
// Generates src/generated/protocol.ts from Lensflow's committed JSON Schema (the wire contract).
//
//   node scripts/gen-types.mjs [SCHEMA]        (or LENSFLOW_SCHEMA=SCHEMA)
//
// Default schema: ../../protocol/lensflow_protocol/lensflow.schema.json, relative to this
// client's folder. Every $def becomes an exported type named after its key; the schema's
// `commands` and `notifications` sections become the `Commands` and `Notifications` maps
// (name -> {arguments, result} / params), and `errors.domain` the `DOMAIN_ERRORS` table.
// The output is never committed (.gitignore): `npm run build` always regenerates it, so the
// client cannot drift from the schema — a field the client uses that the schema drops fails tsc.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const clientRoot = path.resolve(here, "..");
const schemaPath = path.resolve(
  process.argv[2] ??
    process.env.LENSFLOW_SCHEMA ??
    path.join(clientRoot, "..", "..", "protocol", "lensflow_protocol", "lensflow.schema.json"),
);
const outPath = path.resolve(
  process.env.LENSFLOW_TYPES_OUT ?? path.join(clientRoot, "src", "generated", "protocol.ts"),
);

const schema = JSON.parse(await readFile(schemaPath, "utf8"));
const defs = schema.$defs ?? schema.definitions;
if (!defs || typeof defs !== "object") {
  throw new Error(`${schemaPath}: no $defs`);
}

/** pydantic puts a `title` on every property ("Runid"); json-schema-to-typescript would make each
 * a named alias (and number the clashes: Modelname1, ...). Only the $defs themselves keep one. */
function stripTitles(node) {
  if (Array.isArray(node)) return node.map(stripTitles);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "title" && typeof value === "string") continue;
    // Under `properties` the keys are field names, not keywords: a field called "title" stays.
    out[key] =
      key === "properties" && value && typeof value === "object" && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripTitles(v)]))
        : stripTitles(value);
  }
  return out;
}

const names = Object.keys(defs).sort();
const cleanDefs = {};
for (const name of names) {
  cleanDefs[name] = { ...stripTitles(defs[name]), title: name };
}

// One root that references every $def, so each is emitted as its own exported type.
const root = {
  title: "LensflowProtocolDefs",
  type: "object",
  additionalProperties: false,
  properties: Object.fromEntries(names.map((n) => [n, { $ref: `#/$defs/${n}` }])),
  $defs: cleanDefs,
};

let ts = await compile(root, "LensflowProtocolDefs", {
  bannerComment: "",
  additionalProperties: false, // a schema that does not say so still gets no index signature
  declareExternallyReferenced: true,
  enableConstEnums: false,
  strictIndexSignatures: true,
  unknownAny: true,
  format: true,
  cwd: path.dirname(schemaPath),
});
// The root is only a vehicle for the $defs.
ts = ts.replace(/export interface LensflowProtocolDefs \{[\s\S]*?\n\}\n/, "");

const exported = new Set([...ts.matchAll(/export (?:interface|type) (\w+)/g)].map((m) => m[1]));
function typeOf(ref, where) {
  if (ref === undefined) return "Record<string, never>";
  const target = ref.$ref;
  if (typeof target !== "string" || !/^#\/(\$defs|definitions)\//.test(target)) {
    throw new Error(`${where}: expected a $ref into $defs, got ${JSON.stringify(ref)}`);
  }
  const name = target.split("/").pop();
  if (!exported.has(name)) throw new Error(`${where}: ${target} was not generated`);
  return name;
}

const lines = [];
const commands = schema.commands ?? {};
lines.push(
  "",
  "/** Every command of `workspace/executeCommand`: its one argument object and its result. */",
  "export interface Commands {",
);
for (const name of Object.keys(commands).sort()) {
  const spec = commands[name];
  if (spec.summary) lines.push(`  /** ${String(spec.summary).replace(/\*\//g, "*\\/")} */`);
  lines.push(
    `  ${JSON.stringify(name)}: {`,
    `    arguments: ${typeOf(spec.arguments, `commands.${name}.arguments`)};`,
    `    result: ${typeOf(spec.result, `commands.${name}.result`)};`,
    "  };",
  );
}
lines.push("}", "", "export type CommandName = keyof Commands;", "");

const notifications = schema.notifications ?? {};
lines.push("/** Notifications the server sends, by method. */", "export interface Notifications {");
for (const name of Object.keys(notifications).sort()) {
  lines.push(`  ${JSON.stringify(name)}: ${typeOf(notifications[name].params, `notifications.${name}`)};`);
}
lines.push("}", "");

const domain = schema.errors?.domain ?? {};
lines.push(
  "/** Domain error codes by `data.kind` (JSON-RPC -32000…-32099). */",
  `export const DOMAIN_ERRORS = ${JSON.stringify(domain, null, 2)} as const;`,
  "",
  `export const INVALID_PARAMS = ${JSON.stringify(schema.errors?.invalidParams?.code ?? -32602)};`,
  "",
);

const header = [
  "/* eslint-disable */",
  "// GENERATED by scripts/gen-types.mjs from the Lensflow protocol JSON Schema. Do not edit:",
  "// `npm run gen` (and `npm run build`) rewrite it. Not committed.",
  `// Schema: ${String(schema.title ?? "")} — ${names.length} definitions, ${Object.keys(commands).length} commands.`,
  "",
].join("\n");

await mkdir(path.dirname(outPath), { recursive: true });
await writeFile(outPath, header + ts.trimEnd() + "\n" + lines.join("\n"));
console.log(
  `gen: ${path.relative(process.cwd(), outPath)} <- ${schemaPath} ` +
    `(${names.length} types, ${Object.keys(commands).length} commands)`,
);
