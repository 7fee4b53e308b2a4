"""Schemathesis over the Service API's app routes: no input, valid or not, causes a 500.

ore runs under uvicorn in a thread on loopback, on each database. Every operation gets a
few examples of each kind; the generated requests carry a chat app's key. The app has a
required input and asks the local model for two-token answers, so the valid requests that
reach the model stay cheap. Path ids are either generated or those of a real conversation,
message and annotation (of the shared default end user, whom a request without ``user``
is), so the fuzzing also reaches past the lookups. The OpenAI-compatible routes under /v1
are left to their own tests.
"""

from __future__ import annotations

import re

import anyio
import httpx
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from ore.config import Settings
from tests.controllers.service_api.conftest import live_server, local_workspace, make_service_app
from tests.controllers.service_api.test_conversations import add_conversation
from tests.controllers.service_api.test_generation import local_config

APP_ROUTES = r"^/v1/(?!chat/completions|embeddings|models)"
EXAMPLES_PER_OPERATION = 8


def _fuzz(base_url: str, headers: dict[str, str], known: dict[str, str]) -> list[str]:
    """Each operation in each mode; the failures found, as ``METHOD path -> status``."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").include(
        path_regex=APP_ROUTES
    )
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = re.findall(r"{(\w+)}", operation.path)
        ids = {name: known[name] for name in names if name in known}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if ids and mode is GenerationMode.POSITIVE:
                strategy = st.one_of(
                    strategy, operation.as_strategy(generation_mode=mode, path_parameters=ids)
                )

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, headers=headers, timeout=60)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid: an operation without parameters or a body.
                assert mode is GenerationMode.NEGATIVE, operation.path
    return failures


async def test_service_api_never_answers_500(settings: Settings) -> None:
    member = await local_workspace(settings)
    config = local_config()
    config["model"]["completion_params"]["max_tokens"] = 2
    with live_server(settings) as (base_url, _):
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            app = await make_service_app(http, member, model_config=config)
            annotation = await http.post(
                "/v1/apps/annotations", json={"question": "Q?", "answer": "A."}, headers=app.headers
            )
            assert annotation.status_code == 201, annotation.text
        thread = await add_conversation(settings, app, None)
        known = {
            "conversation_id": thread.id,
            "message_id": thread.message_ids[0],
            "annotation_id": annotation.json()["id"],
        }
        failures = await anyio.to_thread.run_sync(_fuzz, base_url, app.headers, known)
    assert not failures, "\n".join(failures)
