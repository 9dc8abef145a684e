import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import {
  parseJsonInput,
  splitArgs,
  suggestModelName,
  suggestServiceName,
  validateArgs,
  validateClusterName,
  validateInteger,
  validateJsonInput,
  validateServiceName,
} from "../src/core/parse";
import { SERVICE_NAME } from "../src/core/contract";

describe("splitArgs", () => {
  const cases: [string, string[]][] = [
    ["", []],
    ["   ", []],
    ["--alpha 0.5", ["--alpha", "0.5"]],
    ["  a   b\tc  ", ["a", "b", "c"]],
    [`--note "two words"`, ["--note", "two words"]],
    [`--note 'it''s'`, ["--note", "its"]],
    [`'a "b" c'`, [`a "b" c`]],
    [`"say \\"hi\\""`, [`say "hi"`]],
    [`"C:\\path"`, [`C:\\path`]],
    [`a\\ b`, ["a b"]],
    [`''`, [""]],
    [`--x=""`, ["--x="]],
    ["$HOME *.py", ["$HOME", "*.py"]],
  ];
  for (const [line, words] of cases) {
    it(JSON.stringify(line), () => {
      assert.deepEqual(splitArgs(line), words);
    });
  }

  it("refuses an unterminated quote", () => {
    assert.throws(() => splitArgs(`--note "open`), /unterminated " quote/);
    assert.match(validateArgs(`'open`) ?? "", /unterminated/);
    assert.equal(validateArgs(`--ok "closed"`), undefined);
  });
});

describe("validators", () => {
  it("service names follow the contract's pattern", () => {
    for (const good of ["abc", "diabetes-svc", "a23456789012345678901234567890bc"]) {
      assert.equal(validateServiceName(good), undefined, good);
    }
    for (const bad of ["ab", "1abc", "Abc", "a_b_c", "a".repeat(33), ""]) {
      assert.notEqual(validateServiceName(bad), undefined, bad);
    }
  });

  it("cluster names follow the contract's pattern", () => {
    for (const good of ["ab", "aks-devtest", "a234567890123456"]) {
      assert.equal(validateClusterName(good), undefined, good);
    }
    for (const bad of ["a", "a2345678901234567", "aks_dev", "-aks", ""]) {
      assert.notEqual(validateClusterName(bad), undefined, bad);
    }
  });

  it("integers: optional, whole, in range", () => {
    const v = validateInteger(1, 100);
    assert.equal(v(""), undefined);
    assert.equal(v("1"), undefined);
    assert.equal(v(" 100 "), undefined);
    for (const bad of ["0", "101", "1.5", "-1", "1e2", "ten"]) {
      assert.notEqual(v(bad), undefined, bad);
    }
  });

  it("JSON input: object or array, or empty", () => {
    assert.equal(parseJsonInput(""), undefined);
    assert.deepEqual(parseJsonInput(`{"data": [[1, 2]]}`), { data: [[1, 2]] });
    assert.deepEqual(parseJsonInput(`[[1, 2]]`), [[1, 2]]);
    assert.equal(validateJsonInput(" "), undefined);
    for (const bad of ["{", "42", `"text"`, "null"]) {
      assert.notEqual(validateJsonInput(bad), undefined, bad);
    }
  });
});

describe("suggestions", () => {
  it("service names proposed for any model name are valid", () => {
    const names = ["diabetes_model", "Diabetes Model", "1-model", "__", "", "x", "a".repeat(80), "Ünïcode-Modell"];
    for (const model of names) {
      const name = suggestServiceName(model);
      assert.match(name, SERVICE_NAME, `${JSON.stringify(model)} → ${name}`);
    }
    assert.equal(suggestServiceName("diabetes_model"), "diabetes-model-svc");
  });

  it("model names come from the artifact's stem", () => {
    assert.equal(suggestModelName("outputs/diabetes_model.pkl"), "diabetes_model");
    assert.equal(suggestModelName("mlflow-model"), "mlflow-model");
    assert.equal(suggestModelName("model/"), "model");
    assert.equal(suggestModelName(""), "model");
  });
});
