import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { errorKind, fieldErrors, formatError, isCancellation } from "../src/core/errors";
import { DOMAIN_ERRORS, INVALID_PARAMS } from "../src/core/protocol";
import { schema } from "./helpers";

describe("formatError", () => {
  it("shows the field paths of -32602 data.errors", () => {
    const error = {
      code: -32602,
      message: "Invalid arguments for lensflow.deploy: serviceName, cpuCores",
      data: {
        errors: [
          { type: "string_pattern_mismatch", loc: ["serviceName"], msg: "String should match pattern '^[a-z][a-z0-9-]{2,31}$'" },
          { type: "greater_than", loc: ["cpuCores"], msg: "Input should be greater than 0" },
          { type: "string_too_long", loc: ["env", "PATH"], msg: "String should have at most 4096 characters" },
          { type: "extra_forbidden", loc: [], msg: "Extra inputs are not permitted" },
          { type: "missing", loc: ["args", 3] },
        ],
      },
    };
    const text = formatError(error, "lensflow.deploy");
    assert.match(text, /^lensflow\.deploy: invalid arguments/);
    assert.match(text, /serviceName: String should match pattern/);
    assert.match(text, /cpuCores: Input should be greater than 0/);
    assert.match(text, /env\.PATH: String should have at most 4096 characters/);
    assert.match(text, /\(arguments\): Extra inputs are not permitted/);
    assert.match(text, /args\.3: missing/);
  });

  it("falls back to the message when -32602 has no field errors", () => {
    assert.equal(formatError({ code: INVALID_PARAMS, message: "Expected one argument object" }), "Expected one argument object");
    assert.deepEqual(fieldErrors({ errors: "nope" }), []);
  });

  it("shows a domain error's message with its kind", () => {
    const error = { code: -32001, message: "No service named diabetes-svc.", data: { kind: "notFound", serviceName: "diabetes-svc" } };
    assert.equal(formatError(error), "No service named diabetes-svc. [notFound]");
    assert.equal(errorKind(error), "notFound");
  });

  it("knows a domain error's kind by its code when data is missing", () => {
    assert.equal(errorKind({ code: -32004, message: "does not fit" }), "unschedulable");
    assert.equal(errorKind({ code: -32603, message: "internal" }), undefined);
  });

  it("says cancelled for -32800 and VS Code's CancellationError", () => {
    assert.ok(isCancellation({ code: -32800, message: "Request cancelled" }));
    const canceled = new Error("Canceled");
    canceled.name = "Canceled";
    assert.ok(isCancellation(canceled));
    assert.equal(formatError(canceled, "lensflow.trackRun"), "lensflow.trackRun: cancelled.");
    assert.ok(!isCancellation(new Error("boom")));
  });

  it("shows plain errors and non-errors", () => {
    assert.equal(formatError(new Error("Connection got disposed.")), "Connection got disposed.");
    assert.equal(formatError("odd"), "odd");
  });
});

describe("error codes", () => {
  it("match the schema's domain error codes", () => {
    assert.deepEqual(DOMAIN_ERRORS, schema.errors.domain);
    assert.equal(INVALID_PARAMS, schema.errors.invalidParams.code);
  });
});
