// The palette's tracking commands: track a run, register its model, and the queries that list them.

import { MODEL_FRAMEWORKS } from "../contract";
import { splitArgs, suggestModelName, validateArgs, validateNonEmpty } from "../parse";
import { artifactChoices, basename, runPrompt } from "./choices";
import { compact, opt, req, type PaletteEntry } from "./prompts";

export const TRACKING_ENTRIES: readonly PaletteEntry[] = [
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
];
