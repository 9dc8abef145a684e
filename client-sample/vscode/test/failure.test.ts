import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { CrashBudget, StderrTail, startFailure } from "../src/core/failure";

describe("StderrTail", () => {
  it("keeps the last lines across chunks, the unfinished one too", () => {
    const tail = new StderrTail(3);
    tail.push("one\ntw");
    tail.push("o\n\nthree\nfour\nfi");
    assert.deepEqual(tail.last(10), ["two", "three", "four", "fi"]); // 3 whole lines kept
    assert.deepEqual(tail.last(2), ["four", "fi"]);
    assert.deepEqual(tail.last(1), ["fi"]);
  });
});

describe("startFailure", () => {
  it("names the cause from the server's stderr", () => {
    const text = startFailure(
      ["/usr/bin/python3", "-m", "lensflow"],
      ["/usr/bin/python3: No module named lensflow"],
      new Error("Connection closed"),
    );
    assert.match(text, /did not start \(\/usr\/bin\/python3 -m lensflow\): \/usr\/bin\/python3: No module named lensflow$/);
  });
  it("says an interpreter that does not exist was not found", () => {
    const error = Object.assign(new Error("spawn /nope/python ENOENT"), { code: "ENOENT" });
    assert.match(startFailure(["/nope/python", "-m", "lensflow"], [], error), /\/nope\/python was not found\. Set lensflow\.server\.python/);
  });
  it("falls back to the error when stderr said nothing", () => {
    assert.match(startFailure(["python3", "-m", "lensflow"], [], new Error("boom")), /: boom$/);
  });
});

describe("CrashBudget", () => {
  it("restarts four times in three minutes, then gives up; old crashes are forgotten", () => {
    const budget = new CrashBudget();
    assert.deepEqual([0, 1, 2, 3, 4].map((s) => budget.restart(s * 1000)), [true, true, true, true, false]);
    assert.equal(budget.restart(5 * 60_000), true);
  });
});
