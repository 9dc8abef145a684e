// The palette's insight commands: compare runs, open MLflow's tracking UI.

import { validateInteger, validateNonEmpty } from "../parse";
import { compact, opt, optInt, req, type PaletteEntry } from "./prompts";

export const INSIGHT_ENTRIES: readonly PaletteEntry[] = [
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
