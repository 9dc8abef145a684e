// The palette's deployment commands: clusters, services, invoking, keys, logs, clean-up.

import { CLUSTER_PURPOSES } from "../contract";
import {
  parseJsonInput,
  suggestServiceName,
  validateClusterName,
  validateInteger,
  validateJsonInput,
  validateNonEmpty,
  validateServiceName,
} from "../parse";
import {
  clusterPrompt,
  modelChoices,
  servicePrompt,
  versionChoices,
} from "./choices";
import { compact, opt, optInt, req, type PaletteEntry } from "./prompts";

export const DEPLOYMENT_ENTRIES: readonly PaletteEntry[] = [
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
];
