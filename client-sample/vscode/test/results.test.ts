import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { PALETTE } from "../src/core/palette";
import { formatResult, plotPage, summarize } from "../src/core/results";
import { QUERY_RESULTS } from "./fixtures";

describe("results", () => {
  it("go to the output channel as pretty JSON under a header", () => {
    const text = formatResult("lensflow.getRun", { runId: "r1" }, { runId: "r1", status: "FINISHED" }, new Date(0));
    assert.equal(
      text,
      '[1970-01-01T00:00:00.000Z] lensflow.getRun {"runId":"r1"}\n{\n  "runId": "r1",\n  "status": "FINISHED"\n}\n',
    );
  });

  it("have a short summary for every palette command", () => {
    for (const e of PALETTE) {
      const line = summarize(e.command, QUERY_RESULTS[e.command] ?? {});
      assert.ok(line.length > 0 && line.length < 200 && !line.includes("\n"), `${e.command}: ${line}`);
      assert.ok(!line.endsWith(": done"), `${e.command} has no summary of its own`);
    }
  });

  it("summarize the workflow's results", () => {
    assert.equal(
      summarize("lensflow.trackRun", {
        runId: "r1", experimentName: "diabetes", status: "FINISHED", durationS: 3.25, metrics: { accuracy: 0.77341, n: 3 },
      }),
      "Run r1 of diabetes: FINISHED in 3.3 s (accuracy=0.7734, n=3)",
    );
    assert.equal(
      summarize("lensflow.registerModel", { modelName: "m", version: 2, modelFramework: "ScikitLearn", source: "x" }),
      "Registered m version 2 (ScikitLearn)",
    );
    assert.equal(summarize("lensflow.invokeEndpoint", { statusCode: 200, latencyMs: 12.4, output: [0.2, 0.8] }), "HTTP 200 in 12 ms: [0.2,0.8]");
    assert.equal(
      summarize("lensflow.cleanUp", { deleted: [{ kind: "service", name: "s1" }, { kind: "cluster", name: "c1" }] }),
      "Deleted service s1, cluster c1",
    );
    assert.equal(summarize("lensflow.cleanUp", { deleted: [] }), "Nothing to delete");
    assert.equal(summarize("lensflow.listRuns", QUERY_RESULTS["lensflow.listRuns"]), "2 runs");
    assert.equal(summarize("lensflow.getWorkspace", { kind: "azureml", name: "ws" }), "Azure ML workspace ws");
  });

  it("name the records the server could not read", () => {
    const record = (name: string) => ({ name, kind: "storeError", message: "unreadable: clean it up" });
    assert.equal(
      summarize("lensflow.listServices", { services: [], damaged: [record("svc-a")] }),
      "0 services; 1 damaged: svc-a (Clean up removes them; details in the output)",
    );
    const many = ["c1", "c2", "c3", "c4", "c5"].map(record);
    const line = summarize("lensflow.listClusters", { clusters: [], damaged: many });
    assert.equal(line, "0 clusters; 5 damaged: c1, c2, c3 and 2 more (Clean up removes them; details in the output)");
    assert.equal(summarize("lensflow.listClusters", QUERY_RESULTS["lensflow.listClusters"]), "1 cluster");
  });

  it("never put service keys in a notification", () => {
    const line = summarize("lensflow.getServiceKeys", { primaryKey: "s3cret-primary", secondaryKey: "s3cret-secondary" });
    assert.doesNotMatch(line, /s3cret/);
  });
});

describe("plotPage", () => {
  it("shows the plot as an image, with nothing else allowed to load", () => {
    const page = plotPage("https://file+.vscode-resource.vscode-cdn.net/tmp/a%20b/compare.svg", "https://*.vscode-cdn.net");
    assert.match(page, /<img src="https:\/\/file\+\.vscode-resource\.vscode-cdn\.net\/tmp\/a%20b\/compare\.svg"/);
    assert.match(page, /default-src 'none'; img-src https:\/\/\*\.vscode-cdn\.net;/);
    assert.doesNotMatch(page, /<script/);
  });
  it("escapes what could end the attribute", () => {
    assert.match(plotPage('x" onerror="alert(1)', "s"), /src="x&quot; onerror=&quot;alert\(1\)"/);
  });
});
