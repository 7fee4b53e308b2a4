"""What one ore process holds: settings and a handle on every external system.

Built once by ``create_app`` (or a worker) and reached by controllers through
``request.app.state.ore``. Services never see it whole: they get the pieces they need.
"""

from __future__ import annotations

from dataclasses import dataclass

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.http import HttpClients
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.storage import Storage
from ore.extensions.tasks import TaskBackend


@dataclass
class OreContext:
    settings: Settings
    db: Database
    kv: KV
    storage: Storage
    tasks: TaskBackend
    http: HttpClients
    models: ModelRuntime
