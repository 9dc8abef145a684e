import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import {
  PALETTE,
  artifactChoices,
  collectArguments,
  versionChoices,
  type PaletteEntry,
  type PickRequest,
  type PromptContext,
  type PromptUI,
  type TextRequest,
} from "../src/core/palette";
import { CLUSTER_NAME, CLUSTER_PURPOSES, COMMANDS, MODEL_FRAMEWORKS, SERVICE_NAME } from "../src/core/contract";
import { QUERY_RESULTS, TYPED } from "./fixtures";
import { definition, schema, schemaErrors } from "./helpers";

type Mode = "full" | "minimal";

interface Script {
  mode: Mode;
  /** Answers by prompt key, taking precedence; undefined = the person dismisses the prompt. */
  answers?: Record<string, string | undefined>;
  failQueries?: boolean;
}

interface Log {
  asked: string[];
  warnings: string[];
  queries: { command: string; args: Record<string, unknown> }[];
}

/** A PromptUI that answers like a person would, and checks what the prompts accept. */
function scriptedUI(script: Script): { ui: PromptUI; log: Log } {
  const log: Log = { asked: [], warnings: [], queries: [] };
  const answerFor = (key: string, fallback: () => string): string | undefined =>
    script.answers && key in script.answers ? script.answers[key] : fallback();
  const ui: PromptUI = {
    text(request: TextRequest) {
      log.asked.push(`text:${request.key}`);
      const answer = answerFor(request.key, () => {
        if (script.mode === "minimal" && request.validate?.("") === undefined) {
          return ""; // optional: left empty
        }
        if (request.value !== undefined && request.value !== "") {
          return request.value; // pre-filled: accepted with Enter
        }
        const typed = TYPED[request.key];
        assert.ok(typed !== undefined, `no typed answer for prompt ${request.key}`);
        return typed;
      });
      if (answer !== undefined) {
        assert.equal(request.validate?.(answer), undefined, `prompt ${request.key} refuses ${JSON.stringify(answer)}`);
      }
      return Promise.resolve(answer);
    },
    pick(request: PickRequest) {
      log.asked.push(`pick:${request.key}`);
      assert.ok(request.choices.length > 0, `empty pick for ${request.key}`);
      const answer = answerFor(request.key, () => {
        const empty = request.choices.find((c) => c.value === "");
        const first = request.choices.find((c) => c.value !== "");
        const chosen = script.mode === "minimal" ? (empty ?? first) : (first ?? empty);
        assert.ok(chosen !== undefined);
        return chosen.value;
      });
      if (answer !== undefined && !request.choices.some((c) => c.value === answer)) {
        assert.ok(request.allowNew, `typed ${answer} into a closed pick ${request.key}`);
        assert.equal(request.validate?.(answer), undefined);
      }
      return Promise.resolve(answer);
    },
    query(command, args) {
      log.queries.push({ command, args });
      assert.deepEqual(schemaErrors(`/commands/${command}/arguments`, args), [], `query ${command} args`);
      if (script.failQueries) {
        return Promise.reject(Object.assign(new Error("store is locked"), { code: -32008, data: { kind: "storeError" } }));
      }
      const result = QUERY_RESULTS[command];
      assert.ok(result !== undefined, `no fixture for query ${command}`);
      return Promise.resolve(result);
    },
    warn(message) {
      log.warnings.push(message);
    },
  };
  return { ui, log };
}

const CTX: PromptContext = { activeFile: "/work/project/train.py" };

function entry(command: string): PaletteEntry {
  const found = PALETTE.find((e) => e.command === command);
  assert.ok(found, `no palette entry for ${command}`);
  return found;
}

async function build(command: string, script: Script, ctx: PromptContext = CTX): Promise<Record<string, unknown>> {
  const { ui } = scriptedUI(script);
  const args = await collectArguments(entry(command), ctx, ui);
  assert.ok(args !== undefined, `${command}: cancelled`);
  return args;
}

function assertValid(command: string, args: unknown): void {
  assert.deepEqual(
    schemaErrors(`/commands/${command}/arguments`, args),
    [],
    `${command} arguments ${JSON.stringify(args)} do not validate against the schema`,
  );
}

describe("palette covers the contract", () => {
  it("has an entry for every command of the schema", () => {
    const paletteCommands = new Set(PALETTE.map((e) => e.command));
    for (const command of Object.keys(schema.commands)) {
      assert.ok(paletteCommands.has(command as never), `schema command ${command} has no palette entry`);
    }
  });

  it("has no entry for a command the schema does not know (except those on their way)", () => {
    for (const e of PALETTE) {
      assert.ok(
        e.command in schema.commands,
        `${e.command} is not a command of the schema`,
      );
    }
  });

  it("has exactly one entry per command of the client's list", () => {
    assert.deepEqual(PALETTE.map((e) => e.command).sort(), [...COMMANDS].sort());
  });

  it("uses palette ids that are not server command ids", () => {
    const ids = PALETTE.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, "duplicate palette ids");
    for (const id of ids) {
      assert.ok(!(id in schema.commands) && !(COMMANDS as readonly string[]).includes(id), `${id} collides`);
      assert.match(id, /^lensflow\.palette\.[a-zA-Z]+$/);
    }
  });

  it("spells the contract's name patterns and enums", () => {
    const pattern = (def: string, prop: string): string => {
      const p = definition({ $ref: `#/$defs/${def}` }).properties?.[prop] as { pattern?: string };
      assert.ok(p.pattern, `${def}.${prop} has no pattern`);
      return p.pattern;
    };
    assert.equal(CLUSTER_NAME.source, pattern("CreateClusterArgs", "name"));
    assert.equal(SERVICE_NAME.source, pattern("DeployArgs", "serviceName"));
    const purpose = definition({ $ref: "#/$defs/CreateClusterArgs" }).properties?.clusterPurpose as { enum: string[] };
    assert.deepEqual([...CLUSTER_PURPOSES], purpose.enum);
    const framework = definition({ $ref: "#/$defs/RegisterModelArgs" }).properties?.modelFramework as {
      anyOf: { enum?: string[] }[];
    };
    assert.deepEqual([...MODEL_FRAMEWORKS], framework.anyOf.find((a) => a.enum)?.enum);
  });

  it("tests its prompts on fixtures that are valid results", () => {
    for (const [command, result] of Object.entries(QUERY_RESULTS)) {
      assert.deepEqual(schemaErrors(`/commands/${command}/result`, result), [], `fixture for ${command}`);
    }
  });
});

describe("argument objects validate against the schema", () => {
  for (const e of PALETTE) {
    if (e.command === "lensflow.cleanUp") {
      continue; // below, once per target
    }
    for (const mode of ["full", "minimal"] as const) {
      it(`${e.command} (${mode} answers)`, async () => {
        const args = await build(e.command, { mode });
        if (e.command in schema.commands) {
          assertValid(e.command, args);
        } else {
          assert.deepEqual(args, {}, `${e.command}: a pending command takes {}`);
        }
      });
    }
  }

  for (const target of ["service", "cluster", "all"]) {
    it(`lensflow.cleanUp (${target})`, async () => {
      const args = await build("lensflow.cleanUp", { mode: "full", answers: { target } });
      assertValid("lensflow.cleanUp", args);
      assert.equal(Object.keys(args).length, 1, "one of serviceName, clusterName, all");
    });
  }

  it("the schema validator does refuse bad arguments", () => {
    assert.notDeepEqual(schemaErrors("/commands/lensflow.deploy/arguments", { serviceName: "Bad_Name" }), []);
    assert.notDeepEqual(schemaErrors("/commands/lensflow.trackRun/arguments", { script: "t.py", unknown: 1 }), []);
  });
});

describe("what the prompts turn answers into", () => {
  it("trackRun: the active file, shell-split arguments, empty optionals left out", async () => {
    assert.deepEqual(await build("lensflow.trackRun", { mode: "full" }), {
      script: "/work/project/train.py",
      experimentName: "diabetes",
      runName: "first try",
      args: ["--alpha", "0.5", "--note", "two words"],
    });
    assert.deepEqual(await build("lensflow.trackRun", { mode: "minimal" }), { script: "/work/project/train.py" });
    assert.deepEqual(await build("lensflow.trackRun", { mode: "minimal" }, {}), { script: "train.py" });
  });

  it("registerModel: run and artifact picked from the server, name from the artifact", async () => {
    const { ui, log } = scriptedUI({ mode: "full" });
    const args = await collectArguments(entry("lensflow.registerModel"), CTX, ui);
    assert.deepEqual(args, {
      runId: "5f0c2d9b8e7a4c11",
      modelPath: "outputs/diabetes_model.pkl",
      modelName: "diabetes_model",
      modelFramework: "ScikitLearn",
    });
    assert.deepEqual(log.queries, [
      { command: "lensflow.listRuns", args: {} },
      { command: "lensflow.getRun", args: { runId: "5f0c2d9b8e7a4c11" } },
    ]);
    const minimal = await build("lensflow.registerModel", { mode: "minimal" });
    assert.equal(minimal.modelFramework, undefined, "framework left to the server");
  });

  it("deploy: model, version, cluster from the server; a valid service name proposed", async () => {
    const { ui, log } = scriptedUI({ mode: "full" });
    const args = await collectArguments(entry("lensflow.deploy"), CTX, ui);
    assert.deepEqual(args, {
      serviceName: "diabetes-model-svc",
      modelName: "diabetes_model",
      modelVersion: 2,
      clusterName: "aks-devtest",
    });
    assert.equal(
      log.queries.filter((q) => q.command === "lensflow.listModels").length,
      1,
      "listModels asked once for model and version",
    );
    const latest = await build("lensflow.deploy", { mode: "minimal" });
    assert.equal(latest.modelVersion, undefined, "latest version: modelVersion omitted");
  });

  it("createCluster: numbers are numbers", async () => {
    assert.deepEqual(await build("lensflow.createCluster", { mode: "full" }), {
      name: "aks-devtest",
      vmSize: "Standard_D2_v2",
      nodeCount: 2,
      clusterPurpose: "DevTest",
    });
  });

  it("invokeEndpoint: JSON body parsed; empty means the swagger example", async () => {
    const full = await build("lensflow.invokeEndpoint", { mode: "full" });
    assert.deepEqual(full.input, { data: [[0, 148, 72, 35, 0, 33.6, 0.627, 50]], method: "predict_proba" });
    const minimal = await build("lensflow.invokeEndpoint", { mode: "minimal" });
    assert.deepEqual(minimal, { serviceName: "diabetes-svc" });
  });

  it("listRuns: the active script, or all runs when there is none", async () => {
    assert.deepEqual(await build("lensflow.listRuns", { mode: "full" }), { script: "/work/project/train.py" });
    assert.deepEqual(await build("lensflow.listRuns", { mode: "full", answers: { scope: "all" } }), {});
    const { ui, log } = scriptedUI({ mode: "full" });
    assert.deepEqual(await collectArguments(entry("lensflow.listRuns"), {}, ui), {});
    assert.deepEqual(log.asked, [], "nothing to ask without an active file");
  });

  it("cleanUp: a service picked from the server; everything only when confirmed", async () => {
    assert.deepEqual(await build("lensflow.cleanUp", { mode: "full", answers: { target: "service" } }), {
      serviceName: "diabetes-svc",
    });
    const { ui } = scriptedUI({ mode: "full", answers: { target: "all", confirm: undefined } });
    assert.equal(await collectArguments(entry("lensflow.cleanUp"), CTX, ui), undefined);
  });

  it("a dismissed prompt cancels the command", async () => {
    for (const e of PALETTE.filter((p) => p.prompts.length > 0 && p.command !== "lensflow.listRuns")) {
      const first = e.prompts[0];
      assert.ok(first);
      const { ui } = scriptedUI({ mode: "full", answers: { [first.key]: undefined } });
      assert.equal(await collectArguments(e, CTX, ui), undefined, `${e.command} went on after a dismissal`);
    }
  });

  it("a failed query warns and falls back to typing", async () => {
    const { ui, log } = scriptedUI({ mode: "full", failQueries: true });
    const args = await collectArguments(entry("lensflow.getServiceLogs"), CTX, ui);
    assert.deepEqual(args, { serviceName: "diabetes-svc", tail: 20 });
    assert.deepEqual(log.asked, ["text:serviceName", "text:tail"]);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0] ?? "", /store is locked/);
  });

  it("prompts refuse names the server would refuse", async () => {
    const { ui } = scriptedUI({ mode: "full" });
    const texts: TextRequest[] = [];
    const spy: PromptUI = {
      ...ui,
      text: (request) => {
        texts.push(request);
        return ui.text(request);
      },
    };
    await collectArguments(entry("lensflow.createCluster"), CTX, spy);
    const name = texts.find((t) => t.key === "name");
    assert.ok(name?.validate);
    assert.notEqual(name.validate("AKS_1"), undefined);
    assert.notEqual(name.validate("a"), undefined);
    assert.equal(name.validate("aks-1"), undefined);
    const nodes = texts.find((t) => t.key === "nodeCount");
    assert.ok(nodes?.validate);
    assert.notEqual(nodes.validate("0"), undefined);
    assert.notEqual(nodes.validate("1.5"), undefined);
  });
});

describe("choices from query results", () => {
  it("puts registrable artifacts first, MLflow folders as folders", () => {
    const values = artifactChoices(QUERY_RESULTS["lensflow.getRun"]).map((c) => c.value);
    assert.deepEqual(values, [
      "outputs/diabetes_model.pkl",
      "mlflow-model",
      "mlflow-model/model.pkl",
      "ROC.png",
      "mlflow-model/conda.yaml",
    ]);
  });

  it("offers 'latest' and versions newest first", () => {
    const values = versionChoices(QUERY_RESULTS["lensflow.listModels"], "diabetes_model").map((c) => c.value);
    assert.deepEqual(values, ["", "2", "1"]);
    assert.deepEqual(versionChoices(QUERY_RESULTS["lensflow.listModels"], "other").map((c) => c.value), [""]);
  });
});
