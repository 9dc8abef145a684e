"""The server killed with -9 between adding a service's program to supervisord and saving its
record: no service runs unlisted. The next server removes the half-deployed service, and its
name is free for the deploy to be done again.

The crash is real and exact: crash_hook.py, installed as the server's sitecustomize, SIGKILLs
the server when it opens the temporary file its service.json is written through.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from lensflow.processes import pid_alive

from tests.conftest import error_of, execute

from .support import (
    close,
    data,
    forget,
    new_server,
    seed_model_and_cluster,
    server_pid,
    service_processes,
    wait_for,
)

HERE = Path(__file__).parent


async def test_server_killed_mid_deploy_leaves_no_service_running_unlisted(
    project: Path, tmp_path: Path
) -> None:
    home = project / ".lensflow"
    folder = home / "services" / "half-service"
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HERE / "crash_hook.py", site / "sitecustomize.py")
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "LENSFLOW_TEST_CRASH_AT": str(folder / ".service.json."),  # write_json's temporary
    }
    client = await new_server(project, env=env)
    await seed_model_and_cluster(client)
    deploy = {
        "serviceName": "half-service",
        "modelName": "diabetes_model",
        "clusterName": "aks-dev",
    }
    pending = asyncio.ensure_future(execute(client, "lensflow.deploy", deploy))
    pid = server_pid(client)
    await wait_for(lambda: not pid_alive(pid), 60, 0.05)
    await forget(client, pending)
    # The premise: the program runs in supervisord, and no record of it was saved.
    assert (home / "clusters" / "aks-dev" / "programs" / "half-service.conf").exists()
    assert service_processes(home, "half-service")
    assert folder.is_dir() and not (folder / "service.json").exists()

    again = await new_server(project)
    try:
        # A listing reaps leftovers when no change holds the home's lock; the new server's own
        # monitor may hold it for a moment, so the next listing does it then.
        listed: dict[str, object] = {}

        async def reaped() -> bool:
            nonlocal listed
            listed = await execute(again, "lensflow.listServices", {})
            return service_processes(home, "half-service") == [] and not folder.exists()

        deadline = asyncio.get_running_loop().time() + 10
        while not await reaped():
            assert asyncio.get_running_loop().time() < deadline, "the leftover was never reaped"
            await asyncio.sleep(0.2)
        assert listed == {"services": [], "damaged": []}
        assert not (home / "clusters" / "aks-dev" / "programs" / "half-service.conf").exists()
        error = await error_of(again, "lensflow.getServiceKeys", {"serviceName": "half-service"})
        assert data(error)["kind"] == "notFound"
        info = await execute(again, "lensflow.deploy", deploy)  # the name is free again
        assert info["state"] == "Healthy", info.get("error")
        listed = await execute(again, "lensflow.listServices", {})
        assert [s["serviceName"] for s in listed["services"]] == ["half-service"]
        keys = await execute(again, "lensflow.getServiceKeys", {"serviceName": "half-service"})
        assert keys["primaryKey"]
        await execute(again, "lensflow.cleanUp", {"all": True})
    finally:
        await close(again)
