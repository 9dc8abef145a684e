// The palette commands: for every command of the contract, what to ask (prompts) and how the
// answers become the one argument object of `workspace/executeCommand`. One file per area;
// the order here is the order of the command palette.

import { DEPLOYMENT_ENTRIES } from "./deployment";
import { INSIGHT_ENTRIES } from "./insight";
import type { PaletteEntry } from "./prompts";
import { TRACKING_ENTRIES } from "./tracking";

export * from "./choices";
export * from "./prompts";

export const PALETTE: readonly PaletteEntry[] = [
  ...TRACKING_ENTRIES,
  ...DEPLOYMENT_ENTRIES,
  ...INSIGHT_ENTRIES,
];

export function paletteEntry(id: string): PaletteEntry | undefined {
  return PALETTE.find((entry) => entry.id === id);
}

/** Commands of the extension itself (not of the contract); ids outside the server's names. */
export const RESTART_SERVER = "lensflow.client.restartServer";
export const CLIENT_COMMANDS: readonly { id: string; title: string }[] = [
  { id: RESTART_SERVER, title: "Restart server" },
];

