// VS Code glue: starts the Lensflow language server over stdio, forwards settings, shows run
// output, results and errors, keeps the status bar, and registers the palette commands.
// The logic lives in src/core/ (no `vscode` import there, unit-tested under Node).

import { spawn } from "node:child_process";
import * as path from "node:path";

import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";

import { formatError, isCancellation } from "./core/errors";
import { CrashBudget, StderrTail, startFailure } from "./core/failure";
import { PALETTE, RESTART_SERVER, collectArguments, type PaletteEntry } from "./core/palette";
import { NOTIFICATIONS } from "./core/contract";
import type {
  ClusterUpdatedParams,
  RunOutputParams,
  RunUpdatedParams,
  ServiceUpdatedParams,
  WorkspaceInfo,
} from "./core/protocol";
import { formatResult, plotPage, summarize } from "./core/results";
import {
  SERVER_PYTHON_KEY,
  didChangeConfigurationParams,
  serverCommand,
  serverSettings,
  type ServerSettings,
} from "./core/settings";
import { parseWorkspaceInfo, statusText, statusTooltip, workspaceFromSettings } from "./core/workspace";
import { promptUI } from "./ui";

const SECTION = "lensflow";

let client: LanguageClient | undefined;
let starting: Promise<void> | undefined;
let results: vscode.OutputChannel;
let runs: vscode.OutputChannel;
let status: vscode.StatusBarItem;
let lastRunId: string | undefined;
let serverErr = new StderrTail();

/**
 * vscode-languageclient shows a notification of its own for each step of a failure (couldn't
 * create a connection, initialization failed, connection closed, will not restart…), none with
 * the cause. Its messages go to the "Lensflow Server" output only; the extension says it once,
 * with the server's last stderr lines.
 */
class QuietClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

function firstFolder(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function currentSettings(): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return serverSettings((key) => config.get(key), firstFolder());
}

function activePythonFile(): string | undefined {
  const document = vscode.window.activeTextEditor?.document;
  return document && document.uri.scheme === "file" && document.languageId === "python"
    ? document.uri.fsPath
    : undefined;
}

// --- status bar ------------------------------------------------------------------------------

function showWorkspace(info: WorkspaceInfo): void {
  status.text = statusText(info);
  status.tooltip = statusTooltip(info);
  status.backgroundColor = undefined;
  status.show();
}

function showNotRunning(reason: string): void {
  status.text = "$(warning) Lensflow: not running";
  status.tooltip = `${reason}\nClick for Lensflow commands (e.g. Lensflow: Restart server)`;
  status.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
  status.show();
}

async function refreshWorkspace(): Promise<void> {
  if (!client?.isRunning()) {
    return;
  }
  try {
    const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, {
      command: "lensflow.getWorkspace",
      arguments: [{}],
    });
    showWorkspace(parseWorkspaceInfo(result) ?? workspaceFromSettings(currentSettings()));
  } catch (error) {
    // A server without lensflow.getWorkspace: what the settings say is the next best thing.
    results.appendLine(`lensflow.getWorkspace failed: ${formatError(error)}`);
    showWorkspace(workspaceFromSettings(currentSettings()));
  }
}

// --- commands --------------------------------------------------------------------------------

async function runningClient(): Promise<LanguageClient> {
  if (starting) {
    await starting.catch(() => undefined);
  }
  if (!client?.isRunning()) {
    throw new Error(
      "The Lensflow server is not running. Check the setting lensflow.server.python, then run “Lensflow: Restart server”.",
    );
  }
  return client;
}

/** The commands that take seconds to minutes, and what their notification says. */
const LONG_COMMANDS: Record<string, string> = {
  "lensflow.trackRun": "tracking a run",
  "lensflow.registerModel": "registering the model",
  "lensflow.createCluster": "creating the cluster",
  "lensflow.deploy": "deploying",
  "lensflow.compareRuns": "comparing runs",
};

/** Queries for the prompts: errors go back to the prompt, which offers an input box instead. */
async function query(command: string, args: Record<string, unknown>): Promise<unknown> {
  const running = await runningClient();
  return running.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] });
}

/**
 * Every command a person starts — from the palette or from a code lens — ends here: the result
 * as pretty JSON in the "Lensflow" output and a short message; errors as error messages.
 */
async function execute(command: string, args: unknown[]): Promise<unknown> {
  try {
    const running = await runningClient();
    const params = { command, arguments: args };
    const title = LONG_COMMANDS[command];
    // A long command runs under a notification with Cancel: cancelling sends $/cancelRequest,
    // and the server ends the work (a run is recorded KILLED).
    const result: unknown =
      title === undefined
        ? await running.sendRequest(ExecuteCommandRequest.type, params)
        : await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `Lensflow: ${title}`, cancellable: true },
            (_progress, token) => running.sendRequest(ExecuteCommandRequest.type, params, token),
          );
    results.append(formatResult(command, args.length === 1 ? args[0] : args, result));
    void openWhatItMade(command, result);
    void vscode.window.showInformationMessage(summarize(command, result), "Show output").then((choice) => {
      if (choice !== undefined) {
        results.show(true);
      }
    });
    return result;
  } catch (error) {
    if (isCancellation(error)) {
      results.appendLine(`${command}: cancelled`);
      return undefined;
    }
    const message = formatError(error, command);
    results.appendLine(message);
    const data = (error as { data?: unknown }).data;
    if (data !== undefined) {
      results.appendLine(JSON.stringify(data, null, 2));
    }
    void vscode.window.showErrorMessage(message, "Show output").then((choice) => {
      if (choice !== undefined) {
        results.show(true);
      }
    });
    return undefined;
  }
}

/** A comparison's plot opens beside the code; the tracking UI opens in the browser. */
async function openWhatItMade(command: string, result: unknown): Promise<void> {
  const made = (result ?? {}) as { plotUri?: unknown; url?: unknown };
  if (command === "lensflow.compareRuns" && typeof made.plotUri === "string") {
    showPlot(vscode.Uri.parse(made.plotUri));
  } else if (command === "lensflow.openTrackingUi" && typeof made.url === "string") {
    await vscode.env.openExternal(vscode.Uri.parse(made.url));
  }
}

/** The comparison's SVG as a picture in a webview beside the code (opened as a file, VS Code
 *  shows SVG source). No scripts; only the plot's own folder may be read. */
function showPlot(plot: vscode.Uri): void {
  const folder = vscode.Uri.file(path.dirname(plot.fsPath));
  const panel = vscode.window.createWebviewPanel(
    "lensflow.plot",
    path.basename(plot.fsPath),
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    { enableScripts: false, localResourceRoots: [folder] },
  );
  panel.webview.html = plotPage(panel.webview.asWebviewUri(plot).toString(), panel.webview.cspSource);
}

async function runPalette(entry: PaletteEntry): Promise<void> {
  let args: Record<string, unknown> | undefined;
  try {
    args = await collectArguments(entry, { activeFile: activePythonFile() }, promptUI(query));
  } catch (error) {
    void vscode.window.showErrorMessage(formatError(error, entry.command));
    return;
  }
  if (args !== undefined) {
    await execute(entry.command, [args]);
  }
}

// --- the client ------------------------------------------------------------------------------

function createClient(): LanguageClient {
  const folder = firstFolder();
  const config = vscode.workspace.getConfiguration(SECTION);
  // Read at every start: a restart takes the setting's current value.
  const { command, args } = serverCommand(config.get(SERVER_PYTHON_KEY), folder);
  const tail = (serverErr = new StderrTail());
  const crashes = new CrashBudget();
  let ran = false;
  // Spawned here, not by vscode-languageclient, to keep the last lines of stderr: the cause of a
  // failed start ("No module named lensflow") is there. The client still copies stderr to the
  // "Lensflow Server" output.
  const serverOptions: ServerOptions = () =>
    new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd: folder, stdio: "pipe" });
      child.once("error", reject);
      child.once("spawn", () => {
        resolve(child);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        tail.push(chunk.toString("utf8"));
      });
    });
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file", language: "python" }],
    // camelCase keys, unset ones left out: the server applies its defaults.
    initializationOptions: () => currentSettings(),
    outputChannelName: "Lensflow Server",
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    initializationFailedHandler: () => false, // startClient says why, once
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue, handled: true }),
      closed: () => {
        if (!ran) {
          return { action: CloseAction.DoNotRestart, handled: true }; // startClient says why
        }
        if (crashes.restart()) {
          return { action: CloseAction.Restart, handled: true };
        }
        showFailure(`The Lensflow server crashed 5 times in 3 minutes and is not restarted: ${tail.last(5).join("\n")}`);
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
    middleware: {
      // Code lenses run the server's own command ids (registered by vscode-languageclient from
      // executeCommandProvider.commands); their results and errors are shown like the palette's.
      executeCommand: (cmd, cmdArgs) => execute(cmd, cmdArgs),
    },
    // Work-done progress: vscode-languageclient declares window.workDoneProgress and answers
    // window/workDoneProgress/create itself, so the server's $/progress shows as notifications.
  };
  const created = new QuietClient("lensflow", "Lensflow", serverOptions, clientOptions);

  created.onNotification(NOTIFICATIONS.runOutput, (params: RunOutputParams) => {
    if (params.runId !== lastRunId) {
      lastRunId = params.runId;
      runs.appendLine(`── run ${params.runId} ──`);
      runs.show(true);
    }
    runs.append(params.text);
  });
  created.onNotification(NOTIFICATIONS.runUpdated, (params: RunUpdatedParams) => {
    runs.appendLine(`── run ${params.runId} ${params.status} (${params.experimentName}, ${params.script}) ──`);
  });
  created.onNotification(NOTIFICATIONS.serviceUpdated, (params: ServiceUpdatedParams) => {
    results.appendLine(`service ${params.serviceName}: ${params.state}${params.error ? ` — ${params.error}` : ""}`);
    if (params.lastTermination) {
      // kubectl's Last State: sent once per kill, whatever the state reads by then.
      void vscode.window.showWarningMessage(`Lensflow: ${params.lastTermination.message}`);
    } else if (["Unhealthy", "CrashLoopBackOff", "OOMKilled", "Failed"].includes(params.state)) {
      void vscode.window.showWarningMessage(`Lensflow: service ${params.serviceName} is ${params.state}.`);
    }
  });
  created.onNotification(NOTIFICATIONS.clusterUpdated, (params: ClusterUpdatedParams) => {
    results.appendLine(`cluster ${params.name}: ${params.state}${params.error ? ` — ${params.error}` : ""}`);
  });
  created.onDidChangeState((event) => {
    if (client !== created) {
      return;
    }
    if (event.newState === State.Stopped) {
      const said = tail.last(3).join("\n");
      showNotRunning(said ? `The Lensflow server stopped:\n${said}` : "The Lensflow server stopped.");
    } else if (event.newState === State.Running) {
      ran = true;
      void refreshWorkspace(); // also after vscode-languageclient restarted a crashed server
    }
  });
  created.onNotification(NOTIFICATIONS.workspaceChanged, (params: unknown) => {
    const info = parseWorkspaceInfo(params);
    if (info !== undefined) {
      showWorkspace(info);
    }
  });
  return created;
}

async function startClient(): Promise<void> {
  const created = createClient();
  client = created;
  showWorkspace(workspaceFromSettings(currentSettings()));
  starting = created.start();
  try {
    await starting;
  } catch (error) {
    const { command, args } = serverCommand(
      vscode.workspace.getConfiguration(SECTION).get(SERVER_PYTHON_KEY),
      firstFolder(),
    );
    await waitForExit();
    showFailure(startFailure([command, ...args], serverErr.last(5), error));
    return;
  } finally {
    starting = undefined;
  }
}

/** The one notification of a server that could not run: its cause, and the setting to fix. */
function showFailure(message: string): void {
  showNotRunning(message);
  void vscode.window.showErrorMessage(message, "Open Settings", "Show Output").then((choice) => {
    if (choice === "Open Settings") {
      void vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.${SERVER_PYTHON_KEY}`);
    } else if (choice === "Show Output") {
      client?.outputChannel.show(true);
    }
  });
}

/** A failed start can reject before the last of the server's stderr arrived. */
function waitForExit(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

async function stopClient(): Promise<void> {
  const old = client;
  client = undefined;
  if (old) {
    try {
      await old.stop();
    } catch {
      // a server that never started has nothing to stop
    }
  }
}

async function restartClient(): Promise<void> {
  await stopClient();
  await startClient();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration(SECTION)) {
    return;
  }
  if (event.affectsConfiguration(`${SECTION}.${SERVER_PYTHON_KEY}`)) {
    await restartClient(); // a new interpreter for the server itself
    return;
  }
  const settings = currentSettings();
  if (!client?.isRunning()) {
    showWorkspace(workspaceFromSettings(settings));
    return;
  }
  await client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(settings));
  // The server answers with lensflow/workspaceChanged; asking too covers a server that does not.
  await refreshWorkspace();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  results = vscode.window.createOutputChannel("Lensflow");
  runs = vscode.window.createOutputChannel("Lensflow Runs");
  status = vscode.window.createStatusBarItem("lensflow.workspace", vscode.StatusBarAlignment.Left, 50);
  status.name = "Lensflow workspace";
  status.command = { title: "Lensflow commands", command: "workbench.action.quickOpen", arguments: [">Lensflow: "] };
  context.subscriptions.push(results, runs, status);

  for (const entry of PALETTE) {
    context.subscriptions.push(vscode.commands.registerCommand(entry.id, () => runPalette(entry)));
  }
  context.subscriptions.push(vscode.commands.registerCommand(RESTART_SERVER, restartClient));
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      void onConfigurationChanged(event);
    }),
    { dispose: () => void stopClient() },
  );
  await startClient();
}

export function deactivate(): Promise<void> | undefined {
  return client ? stopClient() : undefined;
}
