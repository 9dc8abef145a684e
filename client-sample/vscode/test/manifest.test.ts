import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { CLIENT_COMMANDS, PALETTE } from "../src/core/palette";
import { NOTIFICATIONS } from "../src/core/contract";
import { EXTENSION_DIR, readJson, schema } from "./helpers";

interface Manifest {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  contributes: { commands: { command: string; title: string; category?: string }[] };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
}

const manifest = readJson("package.json") as Manifest;

describe("package.json", () => {
  it("contributes exactly the palette's commands (and the client's own), titled alike", () => {
    const expected = [...PALETTE.map((e) => ({ id: e.id, title: e.title })), ...CLIENT_COMMANDS];
    const contributed = manifest.contributes.commands.map((c) => ({ id: c.command, title: c.title }));
    assert.deepEqual(contributed, expected);
    for (const c of manifest.contributes.commands) {
      assert.equal(c.category, "Lensflow", `${c.command} is not in the Lensflow category`);
    }
  });

  it("activates on Python files and on its commands", () => {
    assert.ok(manifest.activationEvents.includes("onLanguage:python"));
    for (const c of manifest.contributes.commands) {
      assert.ok(manifest.activationEvents.includes(`onCommand:${c.command}`), `no activation on ${c.command}`);
    }
  });

  it("pins exact versions; @types/vscode matches engines.vscode; languageclient 9", () => {
    for (const [name, version] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
      assert.match(version, /^\d+\.\d+\.\d+$/, `${name}@${version} is not pinned`);
    }
    assert.equal(manifest.engines.vscode, `^${manifest.devDependencies["@types/vscode"] ?? "?"}`);
    assert.match(manifest.dependencies["vscode-languageclient"] ?? "", /^9\./);
  });

  it("points main at the esbuild bundle of src/extension.ts, which the package carries", () => {
    assert.equal(manifest.main, "./dist/extension.js");
    assert.match(manifest.scripts["bundle"] ?? "", /^esbuild src\/extension\.ts --bundle .*--external:vscode .*--outfile=dist\/extension\.js$/);
    assert.equal(manifest.scripts["vscode:prepublish"], "npm run bundle");
    assert.ok(fs.existsSync(path.join(EXTENSION_DIR, "src", "extension.ts")));
  });
});

describe("plain modules", () => {
  it("do not import vscode (so they run under Node)", () => {
    const core = path.join(EXTENSION_DIR, "src", "core");
    const files = fs.readdirSync(core).filter((f) => f.endsWith(".ts"));
    assert.ok(files.length >= 5);
    for (const file of files) {
      const source = fs.readFileSync(path.join(core, file), "utf8");
      assert.doesNotMatch(source, /from\s+["']vscode(-languageclient[^"']*)?["']|require\(["']vscode/, `${file} imports vscode`);
    }
  });
});

describe("notifications", () => {
  it("handles every notification of the schema", () => {
    const handled = new Set<string>(Object.values(NOTIFICATIONS));
    for (const name of Object.keys(schema.notifications)) {
      assert.ok(handled.has(name), `no handler for ${name}`);
    }
    const extension = fs.readFileSync(path.join(EXTENSION_DIR, "src", "extension.ts"), "utf8");
    for (const key of Object.keys(NOTIFICATIONS)) {
      assert.ok(extension.includes(`NOTIFICATIONS.${key}`), `extension.ts does not listen to NOTIFICATIONS.${key}`);
    }
  });
});
