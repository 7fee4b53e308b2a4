"""Bad requests to the generation routes get Dify's errors before any stream starts;
conversations of another user or app are 404; stop acts only for the task's own user."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ore.config import Settings
from tests.controllers.service_api.conftest import ServiceApp, local_workspace, make_service_app
from tests.controllers.service_api.test_generation import completion_config, local_config

FORM = [
    {"text-input": {"label": "Name", "variable": "name", "required": True, "max_length": 5}},
    {
        "select": {
            "label": "Tone",
            "variable": "tone",
            "required": False,
            "options": ["dry", "warm"],
        }
    },
    {"number": {"label": "Count", "variable": "count", "required": False}},
    {"paragraph": {"label": "Notes", "variable": "notes", "required": False, "default": "none"}},
]


async def chat_with_form(client: httpx.AsyncClient, settings: Settings) -> ServiceApp:
    member = await local_workspace(settings)
    config = local_config(pre_prompt="Hi {{name}}", user_input_form=FORM)
    return await make_service_app(client, member, model_config=config)


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "name is required in input form"),
        ({"name": ""}, "name is required in input form"),
        ({"name": None}, "name is required in input form"),
        ({"name": 7}, "(type 'text-input') name in input form must be a string"),
        ({"name": "toolong"}, "name in input form must be less than 5 characters"),
        (
            {"name": "Ada", "tone": "loud"},
            "tone in input form must be one of the following: ['dry', 'warm']",
        ),
        ({"name": "Ada", "count": "many"}, "count in input form must be a valid number"),
        ({"name": "Ada", "count": True}, "count in input form must be a valid number"),
    ],
)
async def test_inputs_are_checked_against_the_form(
    client: httpx.AsyncClient, settings: Settings, inputs: dict[str, Any], message: str
) -> None:
    app = await chat_with_form(client, settings)
    body = {"query": "Hello", "inputs": inputs, "user": "ada"}
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert error(response) == (400, "invalid_param", message)


async def test_request_fields_are_checked_in_difys_order(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_with_form(client, settings)
    member = app.member
    completion = await make_service_app(
        client, member, mode="completion", name="Writer", model_config=completion_config()
    )
    agent = await make_service_app(client, member, mode="agent-chat", name="Agent")
    good = {"query": "Hello", "inputs": {"name": "Ada"}, "user": "ada"}

    async def post(path: str, target: ServiceApp, body: Any) -> tuple[int, str, str]:
        return error(await client.post(path, json=body, headers=target.headers))

    chat = "/v1/chat-messages"
    assert await post(chat, app, {**good, "user": ""}) == (
        400,
        "invalid_param",
        "Arg user must be provided.",
    )
    assert await post(chat, app, {**good, "query": ""}) == (
        400,
        "invalid_param",
        "query is required",
    )
    assert await post(chat, app, {**good, "conversation_id": "nope"}) == (
        400,
        "invalid_param",
        "conversation_id must be a valid UUID",
    )
    assert await post(chat, completion, good) == (
        400,
        "not_chat_app",
        "Please check if your app mode matches the right API route.",
    )
    assert await post("/v1/completion-messages", app, good) == (
        400,
        "app_unavailable",
        "App unavailable, please check your app configurations.",
    )
    assert await post(chat, agent, {**good, "response_mode": "blocking"}) == (
        400,
        "invalid_param",
        "Agent Chat App does not support blocking mode",
    )
    # The user check comes first, even on the wrong route.
    assert (await post(chat, completion, {"query": "x", "inputs": {}}))[2] == (
        "Arg user must be provided."
    )
    bad_json = await client.post(
        chat, content=b"{not json", headers={**app.headers, "Content-Type": "application/json"}
    )
    assert error(bad_json)[:2] == (400, "bad_request")
    # Nothing was started for any of these.
    for path in (chat, "/v1/completion-messages"):
        no_key = await client.post(path, json=good)
        assert error(no_key)[:2] == (401, "unauthorized")


async def test_a_conversation_of_another_user_or_app_does_not_exist(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_with_form(client, settings)
    other_app = await make_service_app(
        client, app.member, name="Other", model_config=local_config(user_input_form=FORM)
    )
    body = {"query": "Hello", "inputs": {"name": "Ada"}, "user": "ada", "auto_generate_name": False}
    first = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert first.status_code == 200, first.text
    conversation_id = first.json()["conversation_id"]

    not_found = (404, "not_found", "Conversation Not Exists.")
    follow_up = {**body, "conversation_id": conversation_id}
    for target, user in ((app, "grace"), (other_app, "ada")):
        response = await client.post(
            "/v1/chat-messages", json={**follow_up, "user": user}, headers=target.headers
        )
        assert error(response) == not_found
    unknown = {**follow_up, "conversation_id": str(uuid.uuid4())}
    assert error(await client.post("/v1/chat-messages", json=unknown, headers=app.headers)) == (
        not_found
    )
    # Its owner continues it.
    again = await client.post("/v1/chat-messages", json=follow_up, headers=app.headers)
    assert again.status_code == 200 and again.json()["conversation_id"] == conversation_id


async def test_stop_answers_success_for_unknown_tasks_and_checks_its_user(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_with_form(client, settings)
    completion = await make_service_app(
        client, app.member, mode="completion", name="Writer", model_config=completion_config()
    )
    task = str(uuid.uuid4())
    ok = await client.post(
        f"/v1/chat-messages/{task}/stop", json={"user": "x"}, headers=app.headers
    )
    assert ok.status_code == 200 and ok.json() == {"result": "success"}
    ok = await client.post(
        f"/v1/completion-messages/{task}/stop", json={"user": "x"}, headers=completion.headers
    )
    assert ok.status_code == 200 and ok.json() == {"result": "success"}
    missing_user = await client.post(f"/v1/chat-messages/{task}/stop", json={}, headers=app.headers)
    assert error(missing_user) == (400, "invalid_param", "Arg user must be provided.")
    wrong_route = await client.post(
        f"/v1/completion-messages/{task}/stop", json={"user": "x"}, headers=app.headers
    )
    assert error(wrong_route)[:2] == (400, "app_unavailable")
    wrong_route = await client.post(
        f"/v1/chat-messages/{task}/stop", json={"user": "x"}, headers=completion.headers
    )
    assert error(wrong_route)[:2] == (400, "not_chat_app")
