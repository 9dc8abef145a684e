// The part of Lensflow's wire contract this extension spells (see
// protocol/lensflow_protocol/lensflow.schema.json). Plain module: no `vscode` import.

/** Every command of the contract, as the server names it in `workspace/executeCommand`. */
export const COMMANDS = [
  "lensflow.trackRun",
  "lensflow.registerModel",
  "lensflow.listExperiments",
  "lensflow.listRuns",
  "lensflow.getRun",
  "lensflow.listModels",
  "lensflow.createCluster",
  "lensflow.deploy",
  "lensflow.invokeEndpoint",
  "lensflow.cleanUp",
  "lensflow.listClusters",
  "lensflow.listServices",
  "lensflow.getServiceKeys",
  "lensflow.getServiceLogs",
  "lensflow.getWorkspace",
  "lensflow.compareRuns",
  "lensflow.openTrackingUi",
] as const;

export type CommandId = (typeof COMMANDS)[number];

export const NOTIFICATIONS = {
  runOutput: "lensflow/runOutput",
  runUpdated: "lensflow/runUpdated",
  serviceUpdated: "lensflow/serviceUpdated",
  clusterUpdated: "lensflow/clusterUpdated",
  workspaceChanged: "lensflow/workspaceChanged",
} as const;

/** Name patterns of the contract (CreateClusterArgs.name, DeployArgs.serviceName). */
export const CLUSTER_NAME = /^[a-z][a-z0-9-]{1,15}$/;
export const SERVICE_NAME = /^[a-z][a-z0-9-]{2,31}$/;

export const MODEL_FRAMEWORKS = ["ScikitLearn", "Onnx", "TensorFlow", "MLflow"] as const;
export const CLUSTER_PURPOSES = ["DevTest", "FastProd"] as const;

/** JSON-RPC codes of domain errors, by `data.kind` (schema: errors.domain). */
export const DOMAIN_ERRORS: Readonly<Record<string, number>> = {
  notFound: -32001,
  conflict: -32002,
  invalidPath: -32003,
  unschedulable: -32004,
  notSignedIn: -32005,
  unreachable: -32006,
  unsupported: -32007,
  storeError: -32008,
  noWorkspace: -32009,
  runnerFailed: -32010,
};

export const INVALID_PARAMS = -32602;
export const METHOD_NOT_FOUND = -32601;
export const REQUEST_CANCELLED = -32800;

// --- the result shapes the extension reads (fields it does not read are left out) -------

export interface RunInfo {
  runId: string;
  experimentId: string;
  status: string;
  runName?: string | null;
  script?: string | null;
  startTime?: number | null;
  metrics: Record<string, number>;
  params: Record<string, string>;
}

export interface RunDetail extends RunInfo {
  experimentName: string;
  artifacts: string[];
}

export interface ModelVersionInfo {
  version: number;
  source: string;
  runId?: string | null;
  modelFramework?: string | null;
}

export interface RegisteredModelInfo {
  name: string;
  latestVersion?: number | null;
  versions: ModelVersionInfo[];
}

export interface ClusterInfo {
  name: string;
  state: string;
  vmSize: string;
  nodeCount: number;
  clusterPurpose: string;
  cpuCores: number;
  memoryGb: number;
  services?: string[];
}

export interface ServiceInfo {
  serviceName: string;
  state: string;
  clusterName: string;
  modelName: string;
  modelVersion: number;
  scoringUri: string;
}

export interface RunOutputParams {
  runId: string;
  stream: "stdout" | "stderr";
  text: string;
}

export interface RunUpdatedParams {
  runId: string;
  status: string;
  script: string;
  experimentName: string;
}

export interface ServiceUpdatedParams {
  serviceName: string;
  state: string;
  error?: string | null;
}

export interface ClusterUpdatedParams {
  name: string;
  state: string;
  error?: string | null;
}

/** Result of `lensflow.getWorkspace` and params of `lensflow/workspaceChanged`. */
export interface WorkspaceInfo {
  kind: "local" | "azureml";
  name: string;
  home?: string | null;
  trackingUri?: string | null;
  configPath?: string | null;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The list under `key` of a list result (`{runs: [...]}`), or [] when the shape is off. */
export function listOf<T>(result: unknown, key: string): T[] {
  if (!isObject(result)) {
    return [];
  }
  const items = result[key];
  return Array.isArray(items) ? (items as T[]) : [];
}
