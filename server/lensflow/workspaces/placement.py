"""Where a model may go: which workspaces take a managed endpoint or attach a cluster.

Only an Azure ML SDK v2 workspace deploys without a cluster (a managed online endpoint) and
attaches an existing Kubernetes cluster; the local workspace and SDK v1 need a cluster of
their own, named in `clusterName`. One place says so, in the same words for both.
"""

from __future__ import annotations

from lensflow_protocol.deployment import MANAGED, CreateClusterArgs
from lensflow_protocol.errors import Unsupported


def is_managed(cluster_name: str | None) -> bool:
    """A deployment with no cluster, or the reserved name, goes to a managed endpoint."""
    return cluster_name is None or cluster_name == MANAGED


def require_cluster(cluster_name: str | None, workspace: str) -> str:
    """The cluster a workspace without managed endpoints deploys to, or why there is none."""
    if cluster_name is None or is_managed(cluster_name):  # both: mypy narrows on the first
        raise Unsupported(
            f"The {workspace} workspace deploys to a cluster: name one in clusterName "
            "(lensflow.listClusters shows them; lensflow.createCluster makes one). Managed "
            'online endpoints need an Azure ML workspace with azureSdk "v2".',
            clusterName=cluster_name,
        )
    return cluster_name


def refuse_attach(args: CreateClusterArgs, workspace: str) -> None:
    """Attaching an existing cluster (resourceId) is an SDK v2 workspace's feature."""
    if args.resource_id is not None or args.namespace is not None:
        raise Unsupported(
            f"The {workspace} workspace creates its own clusters: resourceId and namespace "
            'attach an existing AKS cluster, in an Azure ML workspace with azureSdk "v2".',
            resourceId=args.resource_id,
        )


def require_resource_id(name: str, resource_id: str | None) -> str:
    """An SDK v2 workspace attaches clusters; it creates none."""
    if not resource_id:
        raise Unsupported(
            "An Azure ML SDK v2 workspace creates no cluster: managed online endpoints need "
            'none (deploy with clusterName "managed", or leave it out). To serve on your own '
            "AKS or Arc cluster, pass its resourceId to attach it.",
            clusterName=name,
        )
    return resource_id
