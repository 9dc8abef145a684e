// Query results as the server sends them (each one is checked against the schema's result
// definition in palette.test.ts, so the prompts are tested on realistic data).

export const QUERY_RESULTS: Readonly<Record<string, unknown>> = {
  "lensflow.listRuns": {
    runs: [
      {
        runId: "5f0c2d9b8e7a4c11",
        experimentId: "1",
        status: "FINISHED",
        runName: "bright-owl-42",
        script: "/work/project/train.py",
        startTime: 1767225600000,
        endTime: 1767225612000,
        metrics: { accuracy: 0.7734, auc: 0.8461 },
        params: { regularization: "0.01" },
      },
      {
        runId: "0a1b2c3d4e5f6071",
        experimentId: "1",
        status: "FAILED",
        metrics: {},
        params: {},
      },
    ],
  },
  "lensflow.getRun": {
    runId: "5f0c2d9b8e7a4c11",
    experimentId: "1",
    experimentName: "diabetes",
    status: "FINISHED",
    metrics: { accuracy: 0.7734 },
    params: { regularization: "0.01" },
    artifactUri: "file:///work/project/.lensflow/artifacts/1/5f0c2d9b8e7a4c11/artifacts",
    artifacts: [
      "ROC.png",
      "outputs/diabetes_model.pkl",
      "mlflow-model/MLmodel",
      "mlflow-model/model.pkl",
      "mlflow-model/conda.yaml",
    ],
    tags: { "mlflow.source.name": "train.py" },
  },
  "lensflow.listModels": {
    models: [
      {
        name: "diabetes_model",
        latestVersion: 2,
        versions: [
          { version: 1, source: "runs:/0a1b2c3d4e5f6071/outputs/diabetes_model.pkl", modelFramework: "ScikitLearn" },
          {
            version: 2,
            source: "runs:/5f0c2d9b8e7a4c11/outputs/diabetes_model.pkl",
            runId: "5f0c2d9b8e7a4c11",
            modelFramework: "ScikitLearn",
          },
        ],
      },
    ],
  },
  "lensflow.listClusters": {
    clusters: [
      {
        name: "aks-devtest",
        state: "Succeeded",
        vmSize: "Standard_D3_v2",
        nodeCount: 1,
        clusterPurpose: "DevTest",
        cpuCores: 4,
        memoryGb: 14,
        services: ["diabetes-svc"],
      },
    ],
  },
  "lensflow.listServices": {
    services: [
      {
        serviceName: "diabetes-svc",
        state: "Healthy",
        clusterName: "aks-devtest",
        modelName: "diabetes_model",
        modelVersion: 2,
        modelFramework: "ScikitLearn",
        scoringUri: "http://127.0.0.1:40123/score",
        swaggerUri: "http://127.0.0.1:40123/swagger.json",
        authEnabled: true,
        cpuCores: 0.1,
        memoryGb: 0.5,
        replicas: 1,
      },
    ],
  },
};

/** What a person types into an input box that has no pre-filled value, by prompt key. */
export const TYPED: Readonly<Record<string, string>> = {
  script: "train.py",
  experimentName: "diabetes",
  runName: "first try",
  args: `--alpha 0.5 --note "two words"`,
  runId: "5f0c2d9b8e7a4c11",
  modelPath: "outputs/diabetes_model.pkl",
  modelName: "diabetes_model",
  name: "aks-devtest",
  vmSize: "Standard_D2_v2",
  nodeCount: "2",
  clusterName: "aks-devtest",
  serviceName: "diabetes-svc",
  input: `{"data": [[0, 148, 72, 35, 0, 33.6, 0.627, 50]], "method": "predict_proba"}`,
  tail: "20",
  limit: "5",
  metric: "mse",
  param: "alpha",
};
