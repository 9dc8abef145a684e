// The palette commands: for every command of the contract, what to ask (prompts) and how the
// answers become the one argument object of `workspace/executeCommand`.
// Plain module: no `vscode` import — the prompts are shown by whatever `PromptUI` is given
// (VS Code's input boxes and quick picks in src/ui.ts; a scripted fake in the tests).

import {
  CLUSTER_PURPOSES,
  MODEL_FRAMEWORKS,
  listOf,
  type ClusterInfo,
  type CommandId,
  type RegisteredModelInfo,
  type RunDetail,
  type RunInfo,
  type ServiceInfo,
} from "./protocol";
import { formatError } from "./errors";
import {
  parseJsonInput,
  splitArgs,
  suggestModelName,
  suggestServiceName,
  validateArgs,
  validateClusterName,
  validateInteger,
  validateJsonInput,
  validateNonEmpty,
  validateServiceName,
} from "./parse";

/** What is known without asking: the Python file of the active editor, if any. */
export interface PromptContext {
  activeFile?: string;
}

/** Answers so far, by prompt key. "" is an optional prompt left empty. */
export type Answers = Readonly<Record<string, string>>;

export type Validator = (text: string) => string | undefined;

export interface Choice {
  label: string;
  value: string;
  description?: string;
  detail?: string;
}

interface PromptBase {
  key: string;
  title: string;
  placeholder?: string;
  /** An optional prompt may be answered with "" (the server's default). */
  optional?: boolean;
  /** Asked only when this holds for the answers so far. */
  when?: (answers: Answers, ctx: PromptContext) => boolean;
  validate?: Validator;
}

/** An input box. */
export interface TextPrompt extends PromptBase {
  kind: "text";
  initial?: (answers: Answers, ctx: PromptContext) => string | undefined;
}

/** A quick pick from a fixed list. */
export interface ChoicePrompt extends PromptBase {
  kind: "choice";
  choices: (answers: Answers, ctx: PromptContext) => Choice[];
}

/** A quick pick filled by a query command; `allowNew` lets the person type another value. */
export interface QueryPrompt extends PromptBase {
  kind: "query";
  command: CommandId;
  args: (answers: Answers, ctx: PromptContext) => Record<string, unknown>;
  choices: (result: unknown, answers: Answers) => Choice[];
  allowNew: boolean;
  /** Shown as the placeholder of the input box offered when the list comes back empty. */
  empty: string;
}

export type Prompt = TextPrompt | ChoicePrompt | QueryPrompt;

export interface PaletteEntry {
  /** The VS Code command id: never a server command id (vscode-languageclient owns those). */
  id: string;
  command: CommandId;
  title: string;
  prompts: Prompt[];
  build: (answers: Answers, ctx: PromptContext) => Record<string, unknown>;
}

/** What a prompt looks like to the UI. */
export interface TextRequest {
  key: string;
  title: string;
  placeholder?: string;
  value?: string;
  validate?: Validator;
}

export interface PickRequest {
  key: string;
  title: string;
  placeholder?: string;
  choices: Choice[];
  allowNew: boolean;
  validate?: Validator;
}

/** The UI that shows prompts; every method resolves undefined when the person dismisses it. */
export interface PromptUI {
  text(request: TextRequest): Promise<string | undefined>;
  pick(request: PickRequest): Promise<string | undefined>;
  /** Runs a query command of the server (workspace/executeCommand). */
  query(command: CommandId, args: Record<string, unknown>): Promise<unknown>;
  /** Says that a list could not be had (the person may still type a value). */
  warn(message: string): void;
}

// --- helpers for `build` -------------------------------------------------------------------

/** The answer, or undefined when it was left empty (or not asked). */
function opt(answers: Answers, key: string): string | undefined {
  const value = answers[key]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function req(answers: Answers, key: string): string {
  const value = opt(answers, key);
  if (value === undefined) {
    throw new Error(`no answer for ${key}`);
  }
  return value;
}

function optInt(answers: Answers, key: string): number | undefined {
  const value = opt(answers, key);
  return value === undefined ? undefined : Number.parseInt(value, 10);
}

/** An object without its undefined fields (the server refuses nothing it does not know). */
export function compact(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

function basename(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

// --- choices from query results --------------------------------------------------------------

function metricsText(metrics: Record<string, number> | undefined): string {
  return Object.entries(metrics ?? {})
    .slice(0, 3)
    .map(([name, value]) => `${name}=${Number.isInteger(value) ? value : value.toPrecision(4)}`)
    .join(" ");
}

export function runChoices(result: unknown): Choice[] {
  return listOf<RunInfo>(result, "runs").map((run) => ({
    label: run.runName ?? run.runId,
    value: run.runId,
    description: [run.status, run.script ? basename(run.script) : undefined, metricsText(run.metrics)]
      .filter((part) => part !== undefined && part !== "")
      .join(" · "),
    detail: run.runName ? run.runId : undefined,
  }));
}

const MODEL_FILE = /\.(pkl|pickle|joblib|onnx)$/i;
const MODEL_FOLDER_MARKERS = ["MLmodel", "saved_model.pb"];

/**
 * The artifacts of a run that can be registered: model files, and the folders of MLflow
 * models (MLmodel) and SavedModels (saved_model.pb); then every other artifact.
 */
export function artifactChoices(result: unknown): Choice[] {
  const artifacts = (result as Partial<RunDetail> | undefined)?.artifacts;
  if (!Array.isArray(artifacts)) {
    return [];
  }
  const models: Choice[] = [];
  const others: Choice[] = [];
  const seen = new Set<string>();
  for (const artifact of artifacts) {
    const parts = artifact.split("/");
    const name = parts[parts.length - 1] ?? "";
    if (MODEL_FOLDER_MARKERS.includes(name) && parts.length > 1) {
      const folder = parts.slice(0, -1).join("/");
      if (!seen.has(folder)) {
        seen.add(folder);
        models.push({ label: folder, value: folder, description: name === "MLmodel" ? "MLflow model" : "SavedModel" });
      }
    } else if (MODEL_FILE.test(name)) {
      seen.add(artifact);
      models.push({ label: artifact, value: artifact, description: "model file" });
    } else {
      others.push({ label: artifact, value: artifact });
    }
  }
  return [...models, ...others.filter((choice) => !seen.has(choice.value))];
}

export function modelChoices(result: unknown): Choice[] {
  return listOf<RegisteredModelInfo>(result, "models").map((model) => ({
    label: model.name,
    value: model.name,
    description:
      model.latestVersion != null
        ? `latest version ${model.latestVersion}`
        : `${model.versions.length} version(s)`,
  }));
}

export function versionChoices(result: unknown, modelName: string): Choice[] {
  const model = listOf<RegisteredModelInfo>(result, "models").find((m) => m.name === modelName);
  const versions = [...(model?.versions ?? [])].sort((a, b) => b.version - a.version);
  return [
    { label: "latest", value: "", description: "the newest version when deploying" },
    ...versions.map((v) => ({
      label: `version ${v.version}`,
      value: String(v.version),
      description: [v.modelFramework, v.runId ? `run ${v.runId}` : undefined].filter(Boolean).join(" · "),
      detail: v.source,
    })),
  ];
}

export function clusterChoices(result: unknown): Choice[] {
  return listOf<ClusterInfo>(result, "clusters").map((cluster) => ({
    label: cluster.name,
    value: cluster.name,
    description: `${cluster.state} · ${cluster.vmSize} × ${cluster.nodeCount} · ${cluster.clusterPurpose}`,
    detail: cluster.services && cluster.services.length > 0 ? `services: ${cluster.services.join(", ")}` : undefined,
  }));
}

export function serviceChoices(result: unknown): Choice[] {
  return listOf<ServiceInfo>(result, "services").map((service) => ({
    label: service.serviceName,
    value: service.serviceName,
    description: `${service.state} · ${service.modelName} v${service.modelVersion} · ${service.clusterName}`,
    detail: service.scoringUri,
  }));
}

// --- prompts shared by several commands ------------------------------------------------------

function runPrompt(): QueryPrompt {
  return {
    kind: "query",
    key: "runId",
    title: "Run",
    placeholder: "Pick a run, or type a run id",
    command: "lensflow.listRuns",
    args: () => ({}),
    choices: runChoices,
    allowNew: true,
    empty: "No runs found: type a run id",
    validate: validateNonEmpty,
  };
}

function servicePrompt(): QueryPrompt {
  return {
    kind: "query",
    key: "serviceName",
    title: "Service",
    placeholder: "Pick a service, or type its name",
    command: "lensflow.listServices",
    args: () => ({}),
    choices: serviceChoices,
    allowNew: true,
    empty: "No services found: type a service name",
    validate: validateServiceName,
  };
}

function clusterPrompt(title = "Inference cluster"): QueryPrompt {
  return {
    kind: "query",
    key: "clusterName",
    title,
    placeholder: "Pick a cluster, or type its name",
    command: "lensflow.listClusters",
    args: () => ({}),
    choices: clusterChoices,
    allowNew: true,
    empty: "No clusters found: type a cluster name (create one with “Lensflow: Create cluster”)",
    validate: validateClusterName,
  };
}

// --- the palette -----------------------------------------------------------------------------

export const PALETTE: readonly PaletteEntry[] = [
  {
    id: "lensflow.palette.trackRun",
    command: "lensflow.trackRun",
    title: "Track run",
    prompts: [
      {
        kind: "text",
        key: "script",
        title: "Training script",
        placeholder: "Path of the script (relative to the first workspace folder) or file URI",
        initial: (_a, ctx) => ctx.activeFile,
        validate: validateNonEmpty,
      },
      {
        kind: "text",
        key: "experimentName",
        title: "Experiment (optional)",
        placeholder: "Empty: the script's mlflow.set_experiment(...), else its file name",
        optional: true,
      },
      { kind: "text", key: "runName", title: "Run name (optional)", placeholder: "Empty: MLflow names it", optional: true },
      {
        kind: "text",
        key: "args",
        title: "Script arguments (optional)",
        placeholder: "e.g. --alpha 0.5 --note 'first try'",
        optional: true,
        validate: validateArgs,
      },
    ],
    build: (a) => {
      const args = opt(a, "args");
      return compact({
        script: req(a, "script"),
        experimentName: opt(a, "experimentName"),
        runName: opt(a, "runName"),
        args: args === undefined ? undefined : splitArgs(args),
      });
    },
  },
  {
    id: "lensflow.palette.registerModel",
    command: "lensflow.registerModel",
    title: "Register model",
    prompts: [
      runPrompt(),
      {
        kind: "query",
        key: "modelPath",
        title: "Model artifact",
        placeholder: "Pick the model's artifact path in the run, or type it",
        command: "lensflow.getRun",
        args: (a) => ({ runId: req(a, "runId") }),
        choices: (result) => artifactChoices(result),
        allowNew: true,
        empty: "The run has no artifacts listed: type the artifact path",
        validate: validateNonEmpty,
      },
      {
        kind: "text",
        key: "modelName",
        title: "Model name",
        initial: (a) => suggestModelName(a.modelPath ?? ""),
        validate: (text) => validateNonEmpty(text) ?? (text.length > 256 ? "At most 256 characters." : undefined),
      },
      {
        kind: "choice",
        key: "modelFramework",
        title: "Model framework",
        optional: true,
        choices: () => [
          { label: "Infer", value: "", description: "from the artifact (recommended)" },
          ...MODEL_FRAMEWORKS.map((framework) => ({ label: framework, value: framework })),
        ],
      },
    ],
    build: (a) =>
      compact({
        runId: req(a, "runId"),
        modelPath: req(a, "modelPath"),
        modelName: req(a, "modelName"),
        modelFramework: opt(a, "modelFramework"),
      }),
  },
  {
    id: "lensflow.palette.listExperiments",
    command: "lensflow.listExperiments",
    title: "List experiments",
    prompts: [],
    build: () => ({}),
  },
  {
    id: "lensflow.palette.listRuns",
    command: "lensflow.listRuns",
    title: "List runs",
    prompts: [
      {
        kind: "choice",
        key: "scope",
        title: "Which runs",
        when: (_a, ctx) => ctx.activeFile !== undefined,
        choices: (_a, ctx) => [
          { label: `Runs of ${basename(ctx.activeFile ?? "")}`, value: "script", detail: ctx.activeFile },
          { label: "All runs", value: "all" },
        ],
      },
    ],
    build: (a, ctx) => (a.scope === "script" && ctx.activeFile !== undefined ? { script: ctx.activeFile } : {}),
  },
  {
    id: "lensflow.palette.getRun",
    command: "lensflow.getRun",
    title: "Show run",
    prompts: [runPrompt()],
    build: (a) => ({ runId: req(a, "runId") }),
  },
  {
    id: "lensflow.palette.listModels",
    command: "lensflow.listModels",
    title: "List registered models",
    prompts: [],
    build: () => ({}),
  },
  {
    id: "lensflow.palette.createCluster",
    command: "lensflow.createCluster",
    title: "Create inference cluster",
    prompts: [
      {
        kind: "text",
        key: "name",
        title: "New cluster name",
        placeholder: "e.g. aks-devtest",
        validate: validateClusterName,
      },
      {
        kind: "text",
        key: "vmSize",
        title: "VM size (optional)",
        placeholder: "Empty: Standard_D3_v2",
        optional: true,
        validate: (text) => (text.length > 64 ? "At most 64 characters." : undefined),
      },
      {
        kind: "text",
        key: "nodeCount",
        title: "Node count (optional)",
        placeholder: "Empty: 1",
        optional: true,
        validate: validateInteger(1, 100),
      },
      {
        kind: "choice",
        key: "clusterPurpose",
        title: "Cluster purpose",
        choices: () =>
          CLUSTER_PURPOSES.map((purpose) => ({
            label: purpose,
            value: purpose,
            description: purpose === "DevTest" ? "one node (default)" : "at least 12 vCPU in all",
          })),
      },
    ],
    build: (a) =>
      compact({
        name: req(a, "name"),
        vmSize: opt(a, "vmSize"),
        nodeCount: optInt(a, "nodeCount"),
        clusterPurpose: opt(a, "clusterPurpose"),
      }),
  },
  {
    id: "lensflow.palette.deploy",
    command: "lensflow.deploy",
    title: "Deploy model",
    prompts: [
      {
        kind: "query",
        key: "modelName",
        title: "Registered model",
        placeholder: "Pick a model, or type its name",
        command: "lensflow.listModels",
        args: () => ({}),
        choices: modelChoices,
        allowNew: true,
        empty: "No registered models found: type a model name",
        validate: validateNonEmpty,
      },
      {
        kind: "query",
        key: "modelVersion",
        title: "Model version",
        optional: true,
        command: "lensflow.listModels",
        args: () => ({}),
        choices: (result, a) => versionChoices(result, a.modelName ?? ""),
        allowNew: true,
        empty: "Empty: the latest version",
        validate: validateInteger(1, Number.MAX_SAFE_INTEGER),
      },
      clusterPrompt(),
      {
        kind: "text",
        key: "serviceName",
        title: "Service name",
        initial: (a) => suggestServiceName(a.modelName ?? ""),
        validate: validateServiceName,
      },
    ],
    build: (a) =>
      compact({
        serviceName: req(a, "serviceName"),
        modelName: req(a, "modelName"),
        modelVersion: optInt(a, "modelVersion"),
        clusterName: req(a, "clusterName"),
      }),
  },
  {
    id: "lensflow.palette.invokeEndpoint",
    command: "lensflow.invokeEndpoint",
    title: "Invoke endpoint",
    prompts: [
      servicePrompt(),
      {
        kind: "text",
        key: "input",
        title: "Request body (optional JSON)",
        placeholder: 'Empty: the example of the service\'s swagger.json; e.g. {"data": [[1, 2, 3]], "method": "predict"}',
        optional: true,
        validate: validateJsonInput,
      },
    ],
    build: (a) => compact({ serviceName: req(a, "serviceName"), input: parseJsonInput(a.input ?? "") }),
  },
  {
    id: "lensflow.palette.cleanUp",
    command: "lensflow.cleanUp",
    title: "Clean up",
    prompts: [
      {
        kind: "choice",
        key: "target",
        title: "Delete what",
        choices: () => [
          { label: "A service", value: "service" },
          { label: "A cluster", value: "cluster", description: "with its services" },
          { label: "Everything", value: "all", description: "every service and cluster of the workspace" },
        ],
      },
      { ...servicePrompt(), when: (a) => a.target === "service" },
      { ...clusterPrompt("Cluster to delete"), when: (a) => a.target === "cluster" },
      {
        kind: "choice",
        key: "confirm",
        title: "Delete every service and cluster?",
        when: (a) => a.target === "all",
        choices: () => [{ label: "Yes, delete everything", value: "yes" }],
      },
    ],
    build: (a) => {
      switch (a.target) {
        case "service":
          return { serviceName: req(a, "serviceName") };
        case "cluster":
          return { clusterName: req(a, "clusterName") };
        case "all":
          if (a.confirm !== "yes") {
            throw new Error("clean up of everything not confirmed");
          }
          return { all: true };
        default:
          throw new Error(`unknown clean-up target ${String(a.target)}`);
      }
    },
  },
  {
    id: "lensflow.palette.listClusters",
    command: "lensflow.listClusters",
    title: "List inference clusters",
    prompts: [],
    build: () => ({}),
  },
  {
    id: "lensflow.palette.listServices",
    command: "lensflow.listServices",
    title: "List services",
    prompts: [],
    build: () => ({}),
  },
  {
    id: "lensflow.palette.getServiceKeys",
    command: "lensflow.getServiceKeys",
    title: "Show service keys",
    prompts: [servicePrompt()],
    build: (a) => ({ serviceName: req(a, "serviceName") }),
  },
  {
    id: "lensflow.palette.getServiceLogs",
    command: "lensflow.getServiceLogs",
    title: "Show service logs",
    prompts: [
      servicePrompt(),
      {
        kind: "text",
        key: "tail",
        title: "Lines (optional)",
        placeholder: "Empty: the last 100 lines",
        optional: true,
        validate: validateInteger(1, 10000),
      },
    ],
    build: (a) => compact({ serviceName: req(a, "serviceName"), tail: optInt(a, "tail") }),
  },
  {
    id: "lensflow.palette.getWorkspace",
    command: "lensflow.getWorkspace",
    title: "Show workspace",
    prompts: [],
    build: () => ({}),
  },
  {
    id: "lensflow.palette.compareRuns",
    command: "lensflow.compareRuns",
    title: "Compare runs",
    prompts: [
      {
        kind: "text",
        key: "script",
        title: "Training script whose latest runs to compare",
        placeholder: "Path of the script (relative to the first workspace folder) or file URI",
        initial: (_a, ctx) => ctx.activeFile,
        validate: validateNonEmpty,
      },
      {
        kind: "text",
        key: "limit",
        title: "How many runs (optional)",
        placeholder: "Empty: the latest 10",
        optional: true,
        validate: validateInteger(2, 100),
      },
      { kind: "text", key: "metric", title: "Metric to plot (optional)", placeholder: "Empty: the first the runs share", optional: true },
      { kind: "text", key: "param", title: "Against parameter (optional)", placeholder: "e.g. alpha", optional: true },
    ],
    build: (a) =>
      compact({
        script: req(a, "script"),
        limit: optInt(a, "limit"),
        metric: opt(a, "metric"),
        param: opt(a, "param"),
      }),
  },
  {
    id: "lensflow.palette.openTrackingUi",
    command: "lensflow.openTrackingUi",
    title: "Open the tracking UI",
    prompts: [
      {
        kind: "text",
        key: "experimentName",
        title: "Experiment (optional)",
        placeholder: "Empty: the experiment of the latest run",
        optional: true,
      },
    ],
    build: (a) => compact({ experimentName: opt(a, "experimentName") }),
  },
];

export function paletteEntry(id: string): PaletteEntry | undefined {
  return PALETTE.find((entry) => entry.id === id);
}

/**
 * Asks the prompts of `entry` in order and builds the argument object; undefined when the
 * person dismisses a prompt. A query that fails, or lists nothing, falls back to an input box.
 */
export async function collectArguments(
  entry: PaletteEntry,
  ctx: PromptContext,
  ui: PromptUI,
): Promise<Record<string, unknown> | undefined> {
  const answers: Record<string, string> = {};
  const queries = new Map<string, Promise<unknown>>();
  const runQuery = (command: CommandId, args: Record<string, unknown>): Promise<unknown> => {
    const key = `${command} ${JSON.stringify(args)}`;
    let pending = queries.get(key);
    if (pending === undefined) {
      pending = ui.query(command, args);
      queries.set(key, pending);
    }
    return pending;
  };

  for (const prompt of entry.prompts) {
    if (prompt.when && !prompt.when(answers, ctx)) {
      continue;
    }
    const title = `${entry.title}: ${prompt.title}`;
    let answer: string | undefined;
    if (prompt.kind === "text") {
      answer = await ui.text({
        key: prompt.key,
        title,
        placeholder: prompt.placeholder,
        value: prompt.initial?.(answers, ctx),
        validate: prompt.validate ?? (prompt.optional ? undefined : validateNonEmpty),
      });
    } else if (prompt.kind === "choice") {
      answer = await ui.pick({
        key: prompt.key,
        title,
        placeholder: prompt.placeholder,
        choices: prompt.choices(answers, ctx),
        allowNew: false,
      });
    } else {
      let choices: Choice[] = [];
      let problem: string | undefined;
      try {
        choices = prompt.choices(await runQuery(prompt.command, prompt.args(answers, ctx)), answers);
      } catch (error) {
        problem = formatError(error);
        ui.warn(`Could not list the choices for “${prompt.title}”: ${problem}`);
      }
      if (choices.length > 0) {
        answer = await ui.pick({
          key: prompt.key,
          title,
          placeholder: prompt.placeholder,
          choices,
          allowNew: prompt.allowNew,
          validate: prompt.validate,
        });
      } else {
        answer = await ui.text({
          key: prompt.key,
          title,
          placeholder: problem === undefined ? prompt.empty : prompt.placeholder,
          validate: prompt.validate ?? (prompt.optional ? undefined : validateNonEmpty),
        });
      }
    }
    if (answer === undefined) {
      return undefined;
    }
    answers[prompt.key] = answer;
  }
  return entry.build(answers, ctx);
}

/** Commands of the extension itself (not of the contract); ids outside the server's names. */
export const RESTART_SERVER = "lensflow.client.restartServer";
export const CLIENT_COMMANDS: readonly { id: string; title: string }[] = [
  { id: RESTART_SERVER, title: "Restart server" },
];
