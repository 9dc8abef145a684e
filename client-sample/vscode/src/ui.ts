// VS Code glue: shows the palette's prompts with input boxes and quick picks.
// The logic (what to ask, how answers become arguments) lives in core/palette.ts.

import * as vscode from "vscode";

import type { Choice, PickRequest, PromptUI, TextRequest } from "./core/palette";
import type { CommandName } from "./core/protocol";

interface ChoiceItem extends vscode.QuickPickItem {
  value: string;
  typed?: boolean;
}

function toItem(choice: Choice): ChoiceItem {
  return { label: choice.label, description: choice.description, detail: choice.detail, value: choice.value };
}

function text(request: TextRequest): Promise<string | undefined> {
  return Promise.resolve(
    vscode.window.showInputBox({
      title: request.title,
      placeHolder: request.placeholder,
      value: request.value,
      ignoreFocusOut: true,
      validateInput: request.validate,
    }),
  );
}

async function pickFixed(request: PickRequest): Promise<string | undefined> {
  const item = await vscode.window.showQuickPick(request.choices.map(toItem), {
    title: request.title,
    placeHolder: request.placeholder,
    matchOnDescription: true,
    matchOnDetail: true,
    ignoreFocusOut: true,
  });
  return item?.value;
}

/** A quick pick that also takes a typed value not in the list (validated before it is taken). */
function pickOrType(request: PickRequest): Promise<string | undefined> {
  const listed = request.choices.map(toItem);
  const quickPick = vscode.window.createQuickPick<ChoiceItem>();
  quickPick.title = request.title;
  quickPick.placeholder = request.placeholder;
  quickPick.matchOnDescription = true;
  quickPick.matchOnDetail = true;
  quickPick.ignoreFocusOut = true;
  quickPick.items = listed;

  return new Promise<string | undefined>((resolve) => {
    let settled = false;
    const finish = (value: string | undefined): void => {
      if (!settled) {
        settled = true;
        resolve(value);
        quickPick.dispose();
      }
    };
    quickPick.onDidChangeValue((typed) => {
      const value = typed.trim();
      if (value === "" || listed.some((item) => item.value === value || item.label === value)) {
        quickPick.items = listed;
        return;
      }
      const problem = request.validate?.(value);
      const typedItem: ChoiceItem = {
        label: value,
        value,
        typed: true,
        description: problem !== undefined ? `$(warning) ${problem}` : "(use this value)",
        alwaysShow: true,
      };
      quickPick.items = [typedItem, ...listed];
    });
    quickPick.onDidAccept(() => {
      const item = quickPick.selectedItems[0];
      if (item === undefined) {
        return;
      }
      if (item.typed === true && request.validate?.(item.value) !== undefined) {
        return; // the item says what is wrong; the pick stays open
      }
      finish(item.value);
    });
    quickPick.onDidHide(() => {
      finish(undefined);
    });
    quickPick.show();
  });
}

export function promptUI(query: (command: CommandName, args: Record<string, unknown>) => Promise<unknown>): PromptUI {
  return {
    text,
    pick: (request) => (request.allowNew ? pickOrType(request) : pickFixed(request)),
    query,
    warn: (message) => {
      void vscode.window.showWarningMessage(message);
    },
  };
}
