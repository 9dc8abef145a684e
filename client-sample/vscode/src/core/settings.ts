// Settings: what the extension reads from the `lensflow` configuration section, what it sends
// to the server, and how it starts the server. Plain module: no `vscode` import.

import * as os from "node:os";
import * as path from "node:path";

/** The keys of the server's `Settings` (schema: $defs/Settings), camelCase as on the wire. */
export const SERVER_SETTING_KEYS = [
  "workspace",
  "trackingUri",
  "python",
  "home",
  "azureAuth",
  "azureSdk",
] as const;
export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];
export type ServerSettings = Partial<Record<ServerSettingKey, string>>;

/** The setting that names the interpreter the server itself runs on. */
export const SERVER_PYTHON_KEY = "server.python";
export const DEFAULT_SERVER_PYTHON = "python3";

/** Reads one key of the `lensflow` section (vscode's WorkspaceConfiguration.get fits). */
export type ConfigReader = (key: string) => unknown;

/**
 * The settings for `initializationOptions` and `workspace/didChangeConfiguration`:
 * unset, empty or non-string values are omitted so the server applies its own defaults;
 * `${workspaceFolder}` is replaced by the first workspace folder when there is one.
 */
export function serverSettings(read: ConfigReader, workspaceFolder?: string): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = read(key);
    if (typeof value !== "string") {
      continue;
    }
    let text = value.trim();
    if (workspaceFolder !== undefined) {
      text = text.split("${workspaceFolder}").join(workspaceFolder);
    }
    if (text !== "") {
      settings[key] = text;
    }
  }
  return settings;
}

/** The payload of `workspace/didChangeConfiguration`: the server reads `settings.lensflow`. */
export function didChangeConfigurationParams(settings: ServerSettings): {
  settings: { lensflow: ServerSettings };
} {
  return { settings: { lensflow: settings } };
}

export interface ServerCommand {
  command: string;
  args: string[];
}

/**
 * How to start the server: `<python> -m lensflow`. `python` is a command on PATH
 * ("python3") or a path; `~` is expanded, `${workspaceFolder}` replaced, and a relative path
 * with a separator ("./.venv/bin/python") is taken from the first workspace folder.
 */
export function serverCommand(python: unknown, workspaceFolder?: string): ServerCommand {
  let command = typeof python === "string" ? python.trim() : "";
  if (command === "") {
    command = DEFAULT_SERVER_PYTHON;
  }
  if (workspaceFolder !== undefined) {
    command = command.split("${workspaceFolder}").join(workspaceFolder);
  }
  if (command === "~" || command.startsWith("~/") || command.startsWith("~\\")) {
    command = path.join(os.homedir(), command.slice(1));
  }
  const hasSeparator = command.includes("/") || command.includes("\\");
  if (hasSeparator && !path.isAbsolute(command) && workspaceFolder !== undefined) {
    command = path.resolve(workspaceFolder, command);
  }
  return { command, args: ["-m", "lensflow"] };
}
