// What a palette command asks (prompts), how a `PromptUI` is asked it, and how the answers are
// collected into the one argument object of `workspace/executeCommand`.
// Plain module: no `vscode` import — the prompts are shown by whatever `PromptUI` is given
// (VS Code's input boxes and quick picks in src/ui.ts; a scripted fake in the tests).

import type { CommandName } from "../protocol";
import { formatError } from "../errors";
import { validateNonEmpty } from "../parse";

/** What is known without asking: the Python file of the active editor, if any. */
export interface PromptContext {
  activeFile?: string;
}

/** Answers so far, by prompt key. "" is an optional prompt left empty. */
export type Answers = Readonly<Record<string, string>>;

export type Validator = (text: string) => string | undefined;

export interface Choice {
  label: string;
  value: string;
  description?: string;
  detail?: string;
}

interface PromptBase {
  key: string;
  title: string;
  placeholder?: string;
  /** An optional prompt may be answered with "" (the server's default). */
  optional?: boolean;
  /** Asked only when this holds for the answers so far. */
  when?: (answers: Answers, ctx: PromptContext) => boolean;
  validate?: Validator;
}

/** An input box. */
export interface TextPrompt extends PromptBase {
  kind: "text";
  initial?: (answers: Answers, ctx: PromptContext) => string | undefined;
}

/** A quick pick from a fixed list. */
export interface ChoicePrompt extends PromptBase {
  kind: "choice";
  choices: (answers: Answers, ctx: PromptContext) => Choice[];
}

/** A quick pick filled by a query command; `allowNew` lets the person type another value. */
export interface QueryPrompt extends PromptBase {
  kind: "query";
  command: CommandName;
  args: (answers: Answers, ctx: PromptContext) => Record<string, unknown>;
  choices: (result: unknown, answers: Answers) => Choice[];
  allowNew: boolean;
  /** Shown as the placeholder of the input box offered when the list comes back empty. */
  empty: string;
}

export type Prompt = TextPrompt | ChoicePrompt | QueryPrompt;

export interface PaletteEntry {
  /** The VS Code command id: never a server command id (vscode-languageclient owns those). */
  id: string;
  command: CommandName;
  title: string;
  prompts: Prompt[];
  build: (answers: Answers, ctx: PromptContext) => Record<string, unknown>;
}

/** What a prompt looks like to the UI. */
export interface TextRequest {
  key: string;
  title: string;
  placeholder?: string;
  value?: string;
  validate?: Validator;
}

export interface PickRequest {
  key: string;
  title: string;
  placeholder?: string;
  choices: Choice[];
  allowNew: boolean;
  validate?: Validator;
}

/** The UI that shows prompts; every method resolves undefined when the person dismisses it. */
export interface PromptUI {
  text(request: TextRequest): Promise<string | undefined>;
  pick(request: PickRequest): Promise<string | undefined>;
  /** Runs a query command of the server (workspace/executeCommand). */
  query(command: CommandName, args: Record<string, unknown>): Promise<unknown>;
  /** Says that a list could not be had (the person may still type a value). */
  warn(message: string): void;
}

// --- helpers for `build` -------------------------------------------------------------------

/** The answer, or undefined when it was left empty (or not asked). */
export function opt(answers: Answers, key: string): string | undefined {
  const value = answers[key]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

export function req(answers: Answers, key: string): string {
  const value = opt(answers, key);
  if (value === undefined) {
    throw new Error(`no answer for ${key}`);
  }
  return value;
}

export function optInt(answers: Answers, key: string): number | undefined {
  const value = opt(answers, key);
  return value === undefined ? undefined : Number.parseInt(value, 10);
}

/** An object without its undefined fields (the server refuses nothing it does not know). */
export function compact(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * Asks the prompts of `entry` in order and builds the argument object; undefined when the
 * person dismisses a prompt. A query that fails, or lists nothing, falls back to an input box.
 */
export async function collectArguments(
  entry: PaletteEntry,
  ctx: PromptContext,
  ui: PromptUI,
): Promise<Record<string, unknown> | undefined> {
  const answers: Record<string, string> = {};
  const queries = new Map<string, Promise<unknown>>();
  const runQuery = (command: CommandName, args: Record<string, unknown>): Promise<unknown> => {
    const key = `${command} ${JSON.stringify(args)}`;
    let pending = queries.get(key);
    if (pending === undefined) {
      pending = ui.query(command, args);
      queries.set(key, pending);
    }
    return pending;
  };

  for (const prompt of entry.prompts) {
    if (prompt.when && !prompt.when(answers, ctx)) {
      continue;
    }
    const title = `${entry.title}: ${prompt.title}`;
    let answer: string | undefined;
    if (prompt.kind === "text") {
      answer = await ui.text({
        key: prompt.key,
        title,
        placeholder: prompt.placeholder,
        value: prompt.initial?.(answers, ctx),
        validate: prompt.validate ?? (prompt.optional ? undefined : validateNonEmpty),
      });
    } else if (prompt.kind === "choice") {
      answer = await ui.pick({
        key: prompt.key,
        title,
        placeholder: prompt.placeholder,
        choices: prompt.choices(answers, ctx),
        allowNew: false,
      });
    } else {
      let choices: Choice[] = [];
      let problem: string | undefined;
      try {
        choices = prompt.choices(await runQuery(prompt.command, prompt.args(answers, ctx)), answers);
      } catch (error) {
        problem = formatError(error);
        ui.warn(`Could not list the choices for “${prompt.title}”: ${problem}`);
      }
      if (choices.length > 0) {
        answer = await ui.pick({
          key: prompt.key,
          title,
          placeholder: prompt.placeholder,
          choices,
          allowNew: prompt.allowNew,
          validate: prompt.validate,
        });
      } else {
        answer = await ui.text({
          key: prompt.key,
          title,
          placeholder: problem === undefined ? prompt.empty : prompt.placeholder,
          validate: prompt.validate ?? (prompt.optional ? undefined : validateNonEmpty),
        });
      }
    }
    if (answer === undefined) {
      return undefined;
    }
    answers[prompt.key] = answer;
  }
  return entry.build(answers, ctx);
}

