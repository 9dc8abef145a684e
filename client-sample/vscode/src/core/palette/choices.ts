// Choices built from the server's query results, and the query prompts several commands share.

import type { ClusterInfo, RegisteredModelInfo, RunDetail, RunInfo, ServiceInfo } from "../protocol";
import { listOf } from "../contract";
import { validateClusterName, validateNonEmpty, validateServiceName } from "../parse";
import type { Choice, QueryPrompt } from "./prompts";

export function basename(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

// --- choices from query results --------------------------------------------------------------

export function metricsText(metrics: RunInfo["metrics"] | undefined): string {
  return Object.entries(metrics ?? {})
    .flatMap(([name, value]) =>
      value === undefined ? [] : [`${name}=${Number.isInteger(value) ? value : value.toPrecision(4)}`],
    )
    .slice(0, 3)
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

export function runPrompt(): QueryPrompt {
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

export function servicePrompt(): QueryPrompt {
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

export function clusterPrompt(title = "Inference cluster"): QueryPrompt {
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

