// How a command's result is shown: pretty JSON for the "Lensflow" output channel and one
// short line for a notification. Plain module: no `vscode` import.

import { isObject, listOf } from "./contract";

/** The block appended to the "Lensflow" output channel for one command. */
export function formatResult(command: string, args: unknown, result: unknown, when = new Date()): string {
  return [
    `[${when.toISOString()}] ${command} ${JSON.stringify(args)}`,
    JSON.stringify(result ?? null, null, 2),
    "",
  ].join("\n");
}

function str(value: unknown, fallback = "?"): string {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : fallback;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Records the server could not read (`damaged`), by name: they would hide in the JSON. */
function damaged(result: unknown): string {
  const names = listOf<{ name?: unknown }>(result, "damaged").map((d) => str(d.name));
  if (names.length === 0) {
    return "";
  }
  const shown = names.length > 3 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more` : names.join(", ");
  return `; ${names.length} damaged: ${shown} (Clean up removes them; details in the output)`;
}

function metrics(value: unknown): string {
  if (!isObject(value)) {
    return "";
  }
  const parts = Object.entries(value)
    .filter((entry): entry is [string, number] => typeof entry[1] === "number")
    .slice(0, 3)
    .map(([name, v]) => `${name}=${Number.isInteger(v) ? v : v.toPrecision(4)}`);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/**
 * One line for an information message. Never the keys of getServiceKeys: those go to the
 * output channel only.
 */
export function summarize(command: string, result: unknown): string {
  const r = isObject(result) ? result : {};
  switch (command) {
    case "lensflow.trackRun": {
      const seconds = typeof r.durationS === "number" ? ` in ${r.durationS.toFixed(1)} s` : "";
      return `Run ${str(r.runId)} of ${str(r.experimentName)}: ${str(r.status)}${seconds}${metrics(r.metrics)}`;
    }
    case "lensflow.registerModel":
      return `Registered ${str(r.modelName)} version ${str(r.version)} (${str(r.modelFramework)})`;
    case "lensflow.createCluster":
      return `Cluster ${str(r.name)}: ${str(r.state)} (${str(r.vmSize)} × ${str(r.nodeCount)})`;
    case "lensflow.deploy": {
      const where = typeof r.scoringUri === "string" ? ` at ${r.scoringUri}` : "";
      const error = typeof r.error === "string" ? ` — ${r.error.split("\n")[0] ?? ""}` : "";
      return `Service ${str(r.serviceName)}: ${str(r.state)}${where}${error}`;
    }
    case "lensflow.invokeEndpoint": {
      const ms = typeof r.latencyMs === "number" ? ` in ${Math.round(r.latencyMs)} ms` : "";
      const output = JSON.stringify(r.output ?? null);
      const shown = output.length > 120 ? `${output.slice(0, 117)}...` : output;
      return `HTTP ${str(r.statusCode)}${ms}: ${shown}`;
    }
    case "lensflow.cleanUp": {
      const deleted = listOf<{ kind?: unknown; name?: unknown }>(result, "deleted");
      return deleted.length === 0
        ? "Nothing to delete"
        : `Deleted ${deleted.map((d) => `${str(d.kind)} ${str(d.name)}`).join(", ")}`;
    }
    case "lensflow.listExperiments":
      return count(listOf(result, "experiments").length, "experiment");
    case "lensflow.listRuns":
      return count(listOf(result, "runs").length, "run");
    case "lensflow.getRun":
      return `Run ${str(r.runId)}: ${str(r.status)}${metrics(r.metrics)}`;
    case "lensflow.listModels":
      return count(listOf(result, "models").length, "registered model");
    case "lensflow.listClusters":
      return count(listOf(result, "clusters").length, "cluster") + damaged(result);
    case "lensflow.listServices":
      return count(listOf(result, "services").length, "service") + damaged(result);
    case "lensflow.getServiceKeys":
      return "The service's keys are in the “Lensflow” output";
    case "lensflow.getServiceLogs":
      return `${count(listOf(result, "lines").length, "log line")} in the “Lensflow” output`;
    case "lensflow.getWorkspace":
      return r.kind === "azureml" ? `Azure ML workspace ${str(r.name)}` : `Local workspace ${str(r.name)}`;
    case "lensflow.compareRuns":
      return `Compared ${count(listOf(result, "runs").length, "run")}${r.plotPath ? `; plot: ${str(r.plotPath)}` : ""}`;
    case "lensflow.openTrackingUi":
      return `MLflow's tracking UI: ${str(r.url)}`;
    default:
      return `${command}: done`;
  }
}

/** The webview page that shows a comparison's SVG plot as a picture: the image and nothing
 *  else may load (Content-Security-Policy), from the webview's own resource origin. */
export function plotPage(imageSrc: string, cspSource: string): string {
  const attr = (text: string): string => text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${attr(cspSource)}; style-src 'unsafe-inline';">`,
    "<style>body{margin:0;background:#fff}img{max-width:100%;height:auto;display:block}</style>",
    `</head><body><img src="${attr(imageSrc)}" alt="Runs compared"></body></html>`,
  ].join("\n");
}
