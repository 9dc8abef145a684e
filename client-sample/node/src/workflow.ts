// Lensflow's workflow from Node.js: the same steps as client-sample/python/demo.py.
//
//   node out/workflow.js [--python PY] [--workspace DIR] [--timeout SECONDS]
//
// Starts the server (`PY -m lensflow`, PY from --python, else $LENSFLOW_PYTHON, else python3),
// opens the training script, prints its code lenses, tracks a run (streaming its output),
// registers `diabetes_model`, creates a local inference cluster, deploys `diabetes-service`,
// invokes it (with the swagger's example, then with rows built here), cleans everything up and
// ends with one machine-readable line: `RESULT {json}`. Exits non-zero on any error.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { LensflowClient, RpcError } from "./client";
import type {
  CleanUpResult,
  ClusterInfo,
  Commands,
  InvokeEndpointArgs,
  InvokeEndpointResult,
  RegisterModelArgs,
  RegisterModelResult,
  ServiceInfo,
  TrackRunResult,
} from "./generated/protocol";
import type { CodeLens, LogMessageParams, ProgressParams, PublishDiagnosticsParams } from "./lsp";

const MODEL = "diabetes_model";
const SERVICE = "diabetes-service";
const CLUSTER = "aks-devtest";
/** The artifact the seed's train.py logs (`mlflow.log_artifact('model.pkl')`), if no lens says. */
const DEFAULT_MODEL_PATH = "model.pkl";
/** The diabetes data set's feature count, if the service's swagger does not tell. */
const DEFAULT_FEATURES = 10;

interface Options {
  python: string;
  workspace: string;
  timeoutS: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      python: { type: "string" },
      workspace: { type: "string" },
      timeout: { type: "string", default: "600" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log("usage: node out/workflow.js [--python PY] [--workspace DIR] [--timeout SECONDS]");
    process.exit(0);
  }
  const timeoutS = Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error("--timeout takes seconds > 0");
  return {
    python: values.python ?? process.env.LENSFLOW_PYTHON ?? "python3",
    workspace: values.workspace ?? mkdtempSync(path.join(os.tmpdir(), "lensflow-node-")),
    timeoutS,
  };
}

function step(text: string): void {
  console.log(`\n== ${text}`);
}

/** The workspace folder, holding train.py (copied from ../python/train.py when absent). */
function prepareWorkspace(dir: string): { root: string; script: string } {
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const script = path.join(root, "train.py");
  if (!existsSync(script)) {
    // out/workflow.js -> client-sample/node -> client-sample/python/train.py
    const sample = path.resolve(__dirname, "..", "..", "python", "train.py");
    copyFileSync(sample, script);
  }
  return { root, script };
}

async function lenses(client: LensflowClient, uri: string): Promise<CodeLens[]> {
  const found =
    (await client.request<CodeLens[] | null>("textDocument/codeLens", { textDocument: { uri } })) ??
    [];
  const out: CodeLens[] = [];
  for (const lens of found) {
    out.push(lens.command ? lens : await client.request<CodeLens>("codeLens/resolve", lens));
  }
  return out;
}

function show(found: CodeLens[], source: string[]): void {
  for (const lens of found) {
    const line = lens.range.start.line;
    const title = lens.command?.title ?? "?";
    const text = (source[line] ?? "").trim().slice(0, 60);
    console.log(`  line ${String(line + 1).padStart(3)}: [${title}]  ${text}`);
  }
}

/** The example request a service documents in its swagger.json (what an invoke without `input`
 * sends, looked up the same way: the body's example, its first named example, else the example
 * of its schema, following a local $ref; the body is OpenAPI 3's requestBody or Swagger 2.0's
 * `in: body` parameter, as Azure's swagger.json has it), to report it; null when unreadable. */
async function swaggerExample(service: ServiceInfo, route: string): Promise<unknown> {
  type Json = Record<string, unknown>;
  const at = (node: unknown, ...keys: string[]): unknown =>
    keys.reduce<unknown>((n, k) => (n && typeof n === "object" ? (n as Json)[k] : undefined), node);
  try {
    const response = await fetch(service.swaggerUri, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) return null;
    const spec: unknown = await response.json();
    const operation = at(spec, "paths", route, "post");
    const parameters = at(operation, "parameters");
    const body = at(operation, "requestBody")
      ? at(operation, "requestBody", "content", "application/json")
      : (Array.isArray(parameters) ? parameters : []).find((p) => at(p, "in") === "body");
    if (!body || typeof body !== "object") return null;
    if ("example" in body) return (body as Json).example;
    if ("x-example" in body) return (body as Json)["x-example"];
    for (const example of Object.values((at(body, "examples") ?? {}) as Json)) {
      if (example && typeof example === "object" && "value" in example) return (example as Json).value;
    }
    let schema = at(body, "schema");
    const ref = at(schema, "$ref");
    if (typeof ref === "string" && ref.startsWith("#/")) schema = at(spec, ...ref.slice(2).split("/"));
    return at(schema, "example") ?? null;
  } catch {
    return null;
  }
}

/** Two feature rows built here, not copied from a data set: the diabetes features are centred
 * and scaled (each column's values lie within about ±0.2), so these are plausible patients. */
function constructedRows(features: number): number[][] {
  const row = (phase: number) =>
    Array.from({ length: features }, (_, i) => Number((0.05 * Math.sin(i + phase)).toFixed(6)));
  return [row(0), row(1.5)];
}

function featureCount(example: unknown): number {
  const data = (example as { data?: unknown } | null)?.data;
  if (Array.isArray(data) && Array.isArray(data[0]) && data[0].length > 0) return data[0].length;
  return DEFAULT_FEATURES;
}

interface Invocation {
  input: unknown;
  statusCode: number;
  output: unknown;
  latencyMs: number;
}

async function invoke(
  client: LensflowClient,
  args: InvokeEndpointArgs,
  shown: unknown,
): Promise<Invocation> {
  const answer: InvokeEndpointResult = await client.execute("lensflow.invokeEndpoint", args);
  console.log(
    `  HTTP ${answer.statusCode} in ${answer.latencyMs.toFixed(1)} ms: ${JSON.stringify(answer.output)}`,
  );
  if (answer.statusCode !== 200) throw new Error(`invoking ${args.serviceName} answered ${answer.statusCode}`);
  return { input: shown, statusCode: answer.statusCode, output: answer.output, latencyMs: answer.latencyMs };
}

async function workflow(client: LensflowClient, root: string, script: string): Promise<Record<string, unknown>> {
  const uri = pathToFileURL(script).href;
  const text = readFileSync(script, "utf8");
  const source = text.split("\n");

  step(`initialize (workspace ${root})`);
  const init = await client.initialize({
    clientInfo: { name: "lensflow-node-client", version: "0.1.0" },
    rootUri: pathToFileURL(root).href,
    workspaceFolders: [{ uri: pathToFileURL(root).href, name: path.basename(root) }],
    capabilities: {
      window: { workDoneProgress: true },
      workspace: { workspaceFolders: true, configuration: false },
      textDocument: { codeLens: { dynamicRegistration: false } },
    },
    initializationOptions: { workspace: "local" },
  });
  await client.notify("initialized", {});
  const server = init.serverInfo;
  console.log(`  ${server?.name ?? "?"} ${server?.version ?? ""}`);
  console.log(`  commands: ${init.capabilities.executeCommandProvider?.commands.join(", ") ?? "-"}`);

  step(`open ${script}`);
  await client.notify("textDocument/didOpen", {
    textDocument: { uri, languageId: "python", version: 1, text },
  });
  show(await lenses(client, uri), source);

  step("click ▶ Track run");
  const track: TrackRunResult = await client.execute("lensflow.trackRun", {
    script: path.relative(root, script) || "train.py",
  });
  console.log(`  run ${track.runId} in ${track.experimentName}: ${track.status}`);
  console.log(`  params ${JSON.stringify(track.params)}  metrics ${JSON.stringify(track.metrics)}`);
  console.log(`  artifacts ${JSON.stringify(track.artifacts)}  (${track.durationS.toFixed(1)} s)`);
  if (track.status !== "FINISHED") {
    console.error(track.outputTail);
    throw new Error(`the run ended ${track.status}`);
  }
  if (track.metrics.mse === undefined) throw new Error("the run logged no mse metric");

  step("lenses after the run");
  const after = await lenses(client, uri);
  show(after, source);

  step("click Register model");
  // The Register lens knows the run and the artifact path; the seed's name is diabetes_model.
  const lens = after.find((l) => l.command?.command === "lensflow.registerModel")?.command;
  const lensArgs = (lens?.arguments?.[0] ?? {}) as Partial<RegisterModelArgs>;
  const registerArgs: Commands["lensflow.registerModel"]["arguments"] = {
    runId: track.runId,
    modelName: MODEL,
    modelPath: lensArgs.modelPath ?? DEFAULT_MODEL_PATH,
  };
  const registered: RegisterModelResult = await client.execute("lensflow.registerModel", registerArgs);
  console.log(
    `  ${registered.modelName} version ${registered.version} (${registered.modelFramework}) from ${registered.source}`,
  );
  const models = await client.execute("lensflow.listModels", {});
  for (const model of models.models) {
    console.log(`  registry: ${model.name} latest version ${model.latestVersion ?? "-"}`);
  }

  step("lenses after registering");
  show(await lenses(client, uri), source);

  step("create an inference cluster (Standard_D3_v2, DevTest, 1 node)");
  const cluster: ClusterInfo = await client.execute("lensflow.createCluster", {
    name: CLUSTER,
    vmSize: "Standard_D3_v2",
    clusterPurpose: "DevTest",
  });
  console.log(`  ${cluster.name}: ${cluster.state}, ${cluster.cpuCores} vCPU, ${cluster.memoryGb} GB`);
  if (cluster.state !== "Succeeded") throw new Error(`cluster ${cluster.name} is ${cluster.state}: ${cluster.error ?? ""}`);

  step(`deploy ${SERVICE}, no scoring script (CPU 1, memory 1 GB, as the seed advises)`);
  const service: ServiceInfo = await client.execute("lensflow.deploy", {
    serviceName: SERVICE,
    modelName: registered.modelName,
    modelVersion: registered.version,
    clusterName: cluster.name,
    cpuCores: 1,
    memoryGb: 1,
  });
  console.log(`  ${service.serviceName}: ${service.state}`);
  console.log(`  REST endpoint ${service.scoringUri}`);
  console.log(`  Swagger       ${service.swaggerUri}`);
  if (service.state !== "Healthy") {
    console.error(service.error ?? "");
    throw new Error(`service ${service.serviceName} is ${service.state}`);
  }

  step("lenses while the service runs");
  show(await lenses(client, uri), source);

  step("invoke it without input: the server sends the swagger's example request");
  const example = await swaggerExample(service, "/score");
  console.log(`  example request: ${JSON.stringify(example)}`);
  const byExample = await invoke(client, { serviceName: service.serviceName }, example);

  const rows = constructedRows(featureCount(example));
  step(`invoke it with ${rows.length} rows of ${rows[0]?.length ?? 0} features built here`);
  const body = { data: rows, method: "predict" };
  console.log(`  request: ${JSON.stringify(body)}`);
  const byRows = await invoke(client, { serviceName: service.serviceName, input: body }, body);

  step("clean up, so nothing keeps running");
  const cleaned: CleanUpResult = await client.execute("lensflow.cleanUp", { all: true });
  for (const item of cleaned.deleted) console.log(`  deleted ${item.kind} ${item.name}`);

  return {
    workspace: root,
    runId: track.runId,
    experimentName: track.experimentName,
    status: track.status,
    params: track.params,
    metrics: track.metrics,
    artifacts: track.artifacts,
    model: { name: registered.modelName, version: registered.version, framework: registered.modelFramework },
    cluster: { name: cluster.name, state: cluster.state },
    service: { name: service.serviceName, state: service.state, scoringUri: service.scoringUri },
    invokeExample: byExample,
    invoke: byRows,
    deleted: cleaned.deleted,
  };
}

function describe(err: unknown): string {
  if (err instanceof RpcError) return err.describe();
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

async function main(): Promise<number> {
  const opts = options();
  const { root, script } = prepareWorkspace(opts.workspace);

  step(`start the server: ${opts.python} -m lensflow`);
  const client = LensflowClient.start({ python: opts.python, serverArgs: ["--log-level", "WARNING"] });
  // vscode-jsonrpc 8 rethrows a failed write from inside a promise nobody holds; the request it
  // was for has already been rejected (MessageWriteError), so that echo is dropped here.
  process.on("unhandledRejection", (reason) => {
    const code = (reason as { code?: unknown } | null)?.code;
    if (code === "ERR_STREAM_DESTROYED" || code === "EPIPE") return;
    console.error(`unhandled: ${describe(reason)}`);
    process.exit(1);
  });

  // What the server tells while it works.
  // Output comes in chunks as the child writes them, not in lines: keep each stream's partial
  // last line until its end arrives, so a line split across two chunks prints as one.
  const partial: Record<string, string> = { stdout: "", stderr: "" };
  const printLines = (stream: string, text: string): void => {
    const lines = (partial[stream] + text).split("\n");
    partial[stream] = lines.pop() ?? "";
    for (const line of lines) (stream === "stderr" ? process.stderr : process.stdout).write(`  | ${line}\n`);
  };
  client.onLensflow("lensflow/runOutput", (p) => printLines(p.stream, p.text));
  client.onLensflow("lensflow/runUpdated", (p) => {
    // The run ended: what is left of a last line without a newline is a line too.
    if (p.status !== "RUNNING") for (const stream of ["stdout", "stderr"]) if (partial[stream]) printLines(stream, "\n");
    console.log(`  run ${p.runId.slice(0, 8)} is ${p.status}`);
  });
  client.onLensflow("lensflow/serviceUpdated", (p) =>
    console.log(`  service ${p.serviceName} is ${p.state}${p.error ? `: ${p.error}` : ""}`),
  );
  client.onLensflow("lensflow/clusterUpdated", (p) => console.log(`  cluster ${p.name} is ${p.state}`));
  client.onRequest("window/workDoneProgress/create", () => null);
  client.onNotification<ProgressParams>("$/progress", ({ value }) => {
    const pct = "percentage" in value && value.percentage !== undefined ? ` ${value.percentage}%` : "";
    const title = value.kind === "begin" ? `${value.title} ` : "";
    console.log(`  [progress ${value.kind}]${pct} ${title}${value.message ?? ""}`.trimEnd());
  });
  client.onNotification<PublishDiagnosticsParams>("textDocument/publishDiagnostics", (p) => {
    for (const d of p.diagnostics) console.log(`  diagnostic line ${d.range.start.line + 1}: ${d.message}`);
  });
  client.onNotification<LogMessageParams>("window/showMessage", (p) => console.error(`  [server] ${p.message}`));
  client.onNotification<LogMessageParams>("window/logMessage", (p) => console.error(`  [server log] ${p.message}`));

  const timer = setTimeout(() => {
    console.error(`error: the workflow took longer than ${opts.timeoutS} s`);
    console.error(`  clusters and services outlive the server: clean ${root} up with lensflow.cleanUp {all: true}`);
    void client.kill().finally(() => process.exit(124));
  }, opts.timeoutS * 1000);
  timer.unref();

  let result: Record<string, unknown> | undefined;
  let failure: unknown;
  try {
    result = await workflow(client, root, script);
  } catch (err) {
    failure = err;
    console.error(describe(err));
    // Clusters and services outlive the server by design: leave nothing running.
    if (client.running) {
      try {
        const cleaned = await client.execute("lensflow.cleanUp", { all: true });
        for (const item of cleaned.deleted) console.error(`  cleaned up ${item.kind} ${item.name}`);
      } catch (cleanupErr) {
        console.error(`clean up failed too: ${describe(cleanupErr)}`);
      }
    }
  }

  let code: number | null;
  try {
    code = await client.stop();
  } catch (err) {
    console.error(`stopping the server: ${describe(err)}`);
    code = await client.kill();
    failure ??= err;
  }
  clearTimeout(timer);
  step(`the server exited with code ${code ?? "?"}`);
  if (failure !== undefined || result === undefined) return 1;
  if (code !== 0) {
    console.error(`error: the server exited with code ${code ?? "?"}`);
    return 1;
  }
  console.log(`  mlflow ui --backend-store-uri sqlite:///${path.join(root, ".lensflow", "mlflow.db")}`);
  console.log(`RESULT ${JSON.stringify(result)}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(describe(err));
    process.exitCode = 1;
  },
);
