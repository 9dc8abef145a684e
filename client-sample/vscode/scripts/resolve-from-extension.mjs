// Module-resolution hook for scripts/gen-protocol.mjs: the Node client's generator
// (../node/scripts/gen-types.mjs) imports `json-schema-to-typescript` as a bare specifier, which
// Node would look up in client-sample/node/node_modules. Run from here, the generator gets the
// copy locked in this package's package-lock.json instead, so `npm ci` here is all it needs.
// Only the generator's own bare imports are redirected; everything else resolves as usual.

import { isBuiltin } from "node:module";

const EXTENSION_PACKAGE = new URL("../package.json", import.meta.url).href;
const GENERATOR = new URL("../../node/scripts/gen-types.mjs", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  const bare = !/^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(specifier) && !isBuiltin(specifier);
  if (bare && context.parentURL === GENERATOR) {
    return nextResolve(specifier, { ...context, parentURL: EXTENSION_PACKAGE });
  }
  return nextResolve(specifier, context);
}
