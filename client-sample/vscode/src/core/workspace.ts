// The status-bar text for the active workspace. Plain module: no `vscode` import.

import { isObject } from "./contract";
import type { WorkspaceInfo } from "./protocol";
import type { ServerSettings } from "./settings";

/** A `WorkspaceInfo` from the wire, or undefined when the shape is not one. */
export function parseWorkspaceInfo(value: unknown): WorkspaceInfo | undefined {
  if (!isObject(value)) {
    return undefined;
  }
  const { kind, name } = value;
  if ((kind !== "local" && kind !== "azureml") || typeof name !== "string") {
    return undefined;
  }
  const optional = (key: string): string | null =>
    typeof value[key] === "string" ? value[key] : null;
  return {
    kind,
    name,
    home: optional("home"),
    trackingUri: optional("trackingUri"),
    configPath: optional("configPath"),
  };
}

/** "Lensflow: local" or "Lensflow: Azure <workspace name>". */
export function statusText(info: WorkspaceInfo): string {
  if (info.kind === "local") {
    return "Lensflow: local";
  }
  return info.name !== "" ? `Lensflow: Azure ${info.name}` : "Lensflow: Azure";
}

export function statusTooltip(info: WorkspaceInfo): string {
  const lines = [
    info.kind === "local" ? `Local workspace "${info.name}"` : `Azure ML workspace "${info.name}"`,
  ];
  if (info.configPath) {
    lines.push(`config: ${info.configPath}`);
  }
  if (info.home) {
    lines.push(`home: ${info.home}`);
  }
  if (info.trackingUri) {
    lines.push(`tracking: ${info.trackingUri}`);
  }
  lines.push("Click for Lensflow commands");
  return lines.join("\n");
}

/**
 * What the settings alone say, for the time before the server answers (or a server without
 * `lensflow.getWorkspace`): "local", else the Azure ML config.json the setting names.
 */
export function workspaceFromSettings(settings: ServerSettings): WorkspaceInfo {
  const workspace = settings.workspace ?? "local";
  if (workspace === "local") {
    return { kind: "local", name: "local", home: settings.home ?? null, trackingUri: settings.trackingUri ?? null };
  }
  // The workspace's name is in the config.json: the server reads it, the status bar waits.
  return { kind: "azureml", name: "", configPath: workspace, trackingUri: settings.trackingUri ?? null };
}
