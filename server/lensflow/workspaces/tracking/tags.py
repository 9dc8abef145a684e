"""The MLflow tag names Lensflow writes and reads, on runs, model versions and Azure services.

One module, so a tag is spelled once in the server. run_bootstrap.py runs in the training
interpreter and imports nothing of Lensflow: it spells its tags again, and a unit test checks
that they equal these.
"""

from __future__ import annotations

# The training script's path: on runs (by the bootstrap), then copied to model versions and
# Azure services, so a script's lenses can find its runs, models and services.
SCRIPT_TAG = "lensflow.script"
# On model versions Lensflow registers: the framework, and the artifact path in the run.
FRAMEWORK_TAG = "lensflow.modelFramework"
MODEL_PATH_TAG = "lensflow.modelPath"
# On runs, set by the bootstrap: {"host", "bootId", "pidNs", "pid", "start"} of the process
# that runs the run; and why Lensflow closed a run its process left RUNNING.
PROCESS_TAG = "lensflow.process"
END_REASON_TAG = "lensflow.endReason"

# MLflow's own tags. The bootstrap sets the source ones, as `mlflow run` would, and the kind
# on experiments it makes (MLflow 3's UI opens an experiment without it on GenAI traces).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
# MLflow UI's shared views of an experiment's runs table (`?viewStateShareKey=<key>`): the
# one Lensflow saves shows the runs' params and metrics.
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARED_VIEW_KEY = "lensflow"
# MLflow's record of log_model calls: internal JSON, not worth showing in a run's tags.
LOG_MODEL_TAG_PREFIX = "mlflow.log-model"
