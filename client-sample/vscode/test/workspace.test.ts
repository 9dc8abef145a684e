import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { parseWorkspaceInfo, statusText, statusTooltip, workspaceFromSettings } from "../src/core/workspace";
import { NOTIFICATIONS } from "../src/core/contract";
import { pointer, schema, schemaErrors } from "./helpers";

const LOCAL = { kind: "local", name: "project", home: "/work/project/.lensflow", trackingUri: "sqlite:////work/project/.lensflow/mlflow.db" };
const AZURE = { kind: "azureml", name: "ml-ws-west", home: null, trackingUri: null, configPath: "/work/project/config.json", subscriptionId: "0000", resourceGroup: "rg" };

describe("status bar", () => {
  it("says local or Azure with the workspace's name", () => {
    assert.equal(statusText({ kind: "local", name: "project" }), "Lensflow: local");
    assert.equal(statusText({ kind: "azureml", name: "ml-ws-west" }), "Lensflow: Azure ml-ws-west");
    assert.equal(statusText({ kind: "azureml", name: "" }), "Lensflow: Azure");
  });

  it("reads getWorkspace results and workspaceChanged params, extra fields and all", () => {
    assert.deepEqual(parseWorkspaceInfo(LOCAL), { ...LOCAL, configPath: null });
    const azure = parseWorkspaceInfo(AZURE);
    assert.equal(azure && statusText(azure), "Lensflow: Azure ml-ws-west");
    assert.match(azure ? statusTooltip(azure) : "", /config: \/work\/project\/config\.json/);
    for (const bad of [null, "local", {}, { kind: "aws", name: "x" }, { kind: "local" }]) {
      assert.equal(parseWorkspaceInfo(bad), undefined, JSON.stringify(bad));
    }
  });

  it("shows what the settings say until the server answers", () => {
    assert.equal(statusText(workspaceFromSettings({})), "Lensflow: local");
    const azure = workspaceFromSettings({ workspace: "/work/project/config.json" });
    assert.equal(azure.kind, "azureml");
    assert.equal(azure.configPath, "/work/project/config.json");
  });

  it("matches the schema's workspace shape", () => {
    assert.ok(schema.commands["lensflow.getWorkspace"], "lensflow.getWorkspace missing from the schema");
    const notification = schema.notifications[NOTIFICATIONS.workspaceChanged];
    assert.deepEqual(schemaErrors("/commands/lensflow.getWorkspace/arguments", {}), []);
    for (const sample of [LOCAL, AZURE]) {
      assert.deepEqual(schemaErrors("/commands/lensflow.getWorkspace/result", sample), [], JSON.stringify(sample));
    }
    assert.ok(notification, "lensflow/workspaceChanged missing from the schema");
    assert.deepEqual(schemaErrors(pointer("notifications", NOTIFICATIONS.workspaceChanged, "params"), LOCAL), []);
  });
});
