// The part of Lensflow's wire contract that is not types: the names the extension sends and
// listens for, the name patterns it checks before asking, and the JSON-RPC codes outside the
// schema. Its types are generated from the schema into ./protocol (`npm run gen`); every list
// here is typed against them, so a command, framework or purpose the schema adds or drops fails
// tsc until the list follows. Plain module: no `vscode` import.

import type { ClusterInfo, CommandName, Notifications, RegisterModelResult } from "./protocol";

/** `values`, which tsc requires to hold every member of the union T (and only those). */
function every<T extends string>() {
  return <const A extends readonly T[]>(
    values: A & ([Exclude<T, A[number]>] extends [never] ? unknown : { missing: Exclude<T, A[number]> }),
  ): A => values;
}

/** Every command of the contract, as the server names it in `workspace/executeCommand`. */
export const COMMANDS = every<CommandName>()([
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
]);

export const NOTIFICATIONS = {
  runOutput: "lensflow/runOutput",
  runUpdated: "lensflow/runUpdated",
  serviceUpdated: "lensflow/serviceUpdated",
  clusterUpdated: "lensflow/clusterUpdated",
  workspaceChanged: "lensflow/workspaceChanged",
} as const satisfies Record<string, keyof Notifications>;

/** Name patterns of the contract (CreateClusterArgs.name, DeployArgs.serviceName); the
 * generated types do not carry patterns, the unit tests compare these with the schema's. */
export const CLUSTER_NAME = /^[a-z][a-z0-9-]{1,15}$/;
export const SERVICE_NAME = /^[a-z][a-z0-9-]{2,31}$/;

export const MODEL_FRAMEWORKS = every<RegisterModelResult["modelFramework"]>()([
  "ScikitLearn",
  "Onnx",
  "TensorFlow",
  "MLflow",
]);
export const CLUSTER_PURPOSES = every<ClusterInfo["clusterPurpose"]>()(["DevTest", "FastProd"]);

/** JSON-RPC and LSP codes the schema does not list (its own are DOMAIN_ERRORS and
 * INVALID_PARAMS in ./protocol). */
export const METHOD_NOT_FOUND = -32601;
export const REQUEST_CANCELLED = -32800;

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
