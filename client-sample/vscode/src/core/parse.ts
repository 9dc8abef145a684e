// Turning what a person typed into argument values, and saying what is wrong with it.
// Validators return an error message, or undefined when the text is fine.
// Plain module: no `vscode` import.

import { CLUSTER_NAME, SERVICE_NAME } from "./contract";

/**
 * Splits a command line into words the way a POSIX shell would for plain words and quotes:
 * whitespace separates, '...' keeps everything, "..." keeps everything but \" and \\,
 * a backslash outside quotes escapes the next character. Nothing is expanded.
 */
export function splitArgs(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line.charAt(i);
    if (quote === "'") {
      if (ch === "'") {
        quote = undefined;
      } else {
        word += ch;
      }
    } else if (quote === '"') {
      if (ch === '"') {
        quote = undefined;
      } else if (ch === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) {
        word += line.charAt(++i);
      } else {
        word += ch;
      }
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      word += line.charAt(++i);
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) {
        words.push(word);
        word = "";
        inWord = false;
      }
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) {
    throw new Error(`unterminated ${quote} quote`);
  }
  if (inWord) {
    words.push(word);
  }
  return words;
}

export function validateArgs(line: string): string | undefined {
  try {
    splitArgs(line);
    return undefined;
  } catch (error) {
    return `Arguments: ${(error as Error).message}.`;
  }
}

export function validateServiceName(name: string): string | undefined {
  return SERVICE_NAME.test(name)
    ? undefined
    : "3–32 characters: lowercase letters, digits and '-', starting with a letter.";
}

export function validateClusterName(name: string): string | undefined {
  return CLUSTER_NAME.test(name)
    ? undefined
    : "2–16 characters: lowercase letters, digits and '-', starting with a letter.";
}

export function validateNonEmpty(text: string): string | undefined {
  return text.trim() === "" ? "Required." : undefined;
}

/** A validator for an optional integer in [min, max]: "" passes (the server's default). */
export function validateInteger(min: number, max: number): (text: string) => string | undefined {
  return (text) => {
    const value = text.trim();
    if (value === "") {
      return undefined;
    }
    if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      return `A whole number from ${min} to ${max}.`;
    }
    return undefined;
  };
}

/** The request body for invokeEndpoint: a JSON object or array; "" means "the swagger example". */
export function parseJsonInput(text: string): Record<string, unknown> | unknown[] | undefined {
  if (text.trim() === "") {
    return undefined;
  }
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null) {
    throw new Error("the request body must be a JSON object or array");
  }
  return value as Record<string, unknown> | unknown[];
}

export function validateJsonInput(text: string): string | undefined {
  try {
    parseJsonInput(text);
    return undefined;
  } catch (error) {
    return `Not a JSON object or array: ${(error as Error).message}`;
  }
}

/**
 * A service name proposed for a model: lowercase, runs of other characters as '-',
 * within the contract's pattern ("Diabetes Model" → "diabetes-model-svc").
 */
export function suggestServiceName(modelName: string): string {
  let base = modelName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+/g, "-")
    .replace(/-$/, "");
  if (base === "") {
    base = "model";
  }
  const name = `${base.slice(0, 27).replace(/-$/, "")}-svc`;
  return SERVICE_NAME.test(name) ? name : "model-svc";
}

/** A model name proposed for an artifact path ("outputs/diabetes_model.pkl" → "diabetes_model"). */
export function suggestModelName(modelPath: string): string {
  const last = modelPath.split(/[\\/]/).filter((part) => part !== "").pop() ?? "";
  const stem = last.replace(/\.[^.]*$/, "");
  return stem !== "" ? stem : "model";
}
