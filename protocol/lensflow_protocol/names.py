"""Command and notification names: the part of the contract every client spells."""

TRACK_RUN = "lensflow.trackRun"
REGISTER_MODEL = "lensflow.registerModel"
LIST_EXPERIMENTS = "lensflow.listExperiments"
LIST_RUNS = "lensflow.listRuns"
GET_RUN = "lensflow.getRun"
LIST_MODELS = "lensflow.listModels"

RUN_OUTPUT = "lensflow/runOutput"
RUN_UPDATED = "lensflow/runUpdated"
