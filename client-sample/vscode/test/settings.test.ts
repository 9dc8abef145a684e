import { strict as assert } from "node:assert";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import {
  DEFAULT_SERVER_PYTHON,
  SERVER_PYTHON_KEY,
  SERVER_SETTING_KEYS,
  didChangeConfigurationParams,
  serverCommand,
  serverSettings,
} from "../src/core/settings";
import { definition, readJson, schema, schemaErrors } from "./helpers";

function reader(values: Record<string, unknown>): (key: string) => unknown {
  return (key) => values[key];
}

interface ConfigProperty {
  type: string;
  default?: unknown;
}

const manifest = readJson("package.json") as {
  contributes: { configuration: { properties: Record<string, ConfigProperty> } };
};

describe("settings sent to the server", () => {
  it("are the schema's Settings, camelCase", () => {
    const properties = Object.keys(definition(schema.settings).properties ?? {}).sort();
    assert.deepEqual([...SERVER_SETTING_KEYS].sort(), properties);
  });

  it("omit unset, empty and non-string values", () => {
    const settings = serverSettings(
      reader({ workspace: "local", trackingUri: "", python: "   ", home: null, server: { python: "python3" } }),
    );
    assert.deepEqual(settings, { workspace: "local" });
  });

  it("keep set values, trimmed, with ${workspaceFolder} replaced", () => {
    const settings = serverSettings(
      reader({
        workspace: "${workspaceFolder}/azure/config.json",
        trackingUri: " http://127.0.0.1:5000 ",
        python: "${workspaceFolder}/.venv/bin/python",
        home: "~/lensflow-home",
      }),
      "/work/project",
    );
    assert.deepEqual(settings, {
      workspace: "/work/project/azure/config.json",
      trackingUri: "http://127.0.0.1:5000",
      python: "/work/project/.venv/bin/python",
      home: "~/lensflow-home",
    });
    assert.deepEqual(schemaErrors("/settings", settings), []);
  });

  it("go in didChangeConfiguration under settings.lensflow", () => {
    assert.deepEqual(didChangeConfigurationParams({ workspace: "local" }), {
      settings: { lensflow: { workspace: "local" } },
    });
    assert.deepEqual(didChangeConfigurationParams({}), { settings: { lensflow: {} } });
  });

  it("are all contributed as lensflow.* settings, with lensflow.server.python", () => {
    const props = manifest.contributes.configuration.properties;
    for (const key of SERVER_SETTING_KEYS) {
      assert.equal(props[`lensflow.${key}`]?.type, "string", `lensflow.${key} not contributed`);
    }
    assert.equal(props["lensflow.workspace"]?.default, "local");
    assert.equal(props[`lensflow.${SERVER_PYTHON_KEY}`]?.default, DEFAULT_SERVER_PYTHON);
    assert.deepEqual(
      Object.keys(props).sort(),
      [...SERVER_SETTING_KEYS.map((k) => `lensflow.${k}`), `lensflow.${SERVER_PYTHON_KEY}`].sort(),
    );
  });
});

describe("server command", () => {
  it("is <python> -m lensflow, python3 by default", () => {
    assert.deepEqual(serverCommand(undefined), { command: "python3", args: ["-m", "lensflow"] });
    assert.deepEqual(serverCommand("  "), { command: "python3", args: ["-m", "lensflow"] });
    assert.deepEqual(serverCommand("python3.12").command, "python3.12");
  });

  it("takes full paths as they are, expands ~ and resolves relative paths in the folder", () => {
    assert.equal(serverCommand("/opt/venv/bin/python", "/work/project").command, "/opt/venv/bin/python");
    assert.equal(serverCommand("/opt/my venv/bin/python").command, "/opt/my venv/bin/python");
    assert.equal(serverCommand("~/venv/bin/python").command, path.join(os.homedir(), "venv/bin/python"));
    assert.equal(serverCommand(".venv/bin/python", "/work/project").command, path.resolve("/work/project/.venv/bin/python"));
    assert.equal(
      serverCommand("${workspaceFolder}/.venv/bin/python", "/work/project").command,
      "/work/project/.venv/bin/python",
    );
  });
});
