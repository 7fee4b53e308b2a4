"""Service API annotations: create, list, update, delete; annotation reply jobs run for real
on the local embedding model, then :func:`match_annotation` as the generation routes use it
(spec dify-service-api.md §4, annotation rows)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from ore.config import Settings
from ore.core.local_models import EMBEDDING_MODEL_NAME
from ore.core.model_runtime import EmbeddingRequest
from ore.extensions.context import OreContext
from ore.models import App, AppModelConfig, MessageAnnotation, TaskRun
from ore.services import model_providers
from ore.services.annotations import match_annotation
from tests.factories import Member, create_member, db_session

ANNOTATIONS = "/v1/apps/annotations"
REPLY = "/v1/apps/annotation-reply"
APPS = "/console/api/apps"
LOCAL_EMBEDDING = {
    "embedding_provider_name": "local",
    "embedding_model_name": EMBEDDING_MODEL_NAME,
    "score_threshold": 0.8,
}


@dataclass
class KeyedApp:
    member: Member
    app_id: str
    headers: dict[str, str]


async def keyed_app(http: httpx.AsyncClient, settings: Settings, mode: str = "chat") -> KeyedApp:
    """A new workspace with the local provider configured, one app of ``mode`` and its key."""
    member = await create_member(settings)
    async with db_session(settings) as session:
        await model_providers.ensure_config(session, member.tenant.id, "local")
    created = await http.post(APPS, json={"name": "Helpdesk", "mode": mode}, headers=member.headers)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    key = await http.post(f"{APPS}/{app_id}/api-keys", headers=member.headers)
    assert key.status_code == 201, key.text
    return KeyedApp(member, app_id, {"Authorization": f"Bearer {key.json()['token']}"})


async def add(http: httpx.AsyncClient, app: KeyedApp, question: str, answer: str) -> dict[str, Any]:
    response = await http.post(
        ANNOTATIONS, json={"question": question, "answer": answer}, headers=app.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_job(
    http: httpx.AsyncClient, app: KeyedApp, action: str, job_id: str
) -> dict[str, Any]:
    for _ in range(600):
        response = await http.get(f"{REPLY}/{action}/status/{job_id}", headers=app.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["job_status"] in ("completed", "error"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def test_create_list_update_delete(client: httpx.AsyncClient, settings: Settings) -> None:
    app = await keyed_app(client, settings)
    created = await add(client, app, "How do I reset my password?", "Use the reset link.")
    assert set(created) == {"id", "question", "answer", "hit_count", "created_at"}
    assert created["question"] == "How do I reset my password?"
    assert created["answer"] == "Use the reset link." and created["hit_count"] == 0
    assert isinstance(created["created_at"], int)
    await add(client, app, "Where is the invoice?", "Under Billing.")

    listed = await client.get(ANNOTATIONS, headers=app.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"data", "has_more", "limit", "total", "page"}
    assert body["total"] == 2 and body["page"] == 1 and body["limit"] == 20
    assert body["has_more"] is False
    assert [item["question"] for item in body["data"]] == [
        "Where is the invoice?",
        "How do I reset my password?",
    ]

    updated = await client.put(
        f"{ANNOTATIONS}/{created['id']}",
        json={"question": "How can I change my password?", "answer": "Settings > Security."},
        headers=app.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == created["id"]
    assert updated.json()["answer"] == "Settings > Security."

    deleted = await client.delete(f"{ANNOTATIONS}/{created['id']}", headers=app.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    again = await client.delete(f"{ANNOTATIONS}/{created['id']}", headers=app.headers)
    assert again.status_code == 404
    assert again.json() == {"code": "not_found", "message": "Annotation not found", "status": 404}
    async with db_session(settings) as session:
        rows = (await session.scalars(select(MessageAnnotation))).all()
    assert [row.question for row in rows] == ["Where is the invoice?"]
    assert rows[0].app_id == uuid.UUID(app.app_id)


async def test_pages_keyword_and_the_limit_cap(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await keyed_app(client, settings)
    for number in range(5):
        await add(client, app, f"question {number}", f"answer {number}")
    await add(client, app, "100% off?", "No discount_codes here.")

    first = (await client.get(ANNOTATIONS, params={"limit": 2}, headers=app.headers)).json()
    assert first["total"] == 6 and len(first["data"]) == 2 and first["has_more"] is True
    last = (
        await client.get(ANNOTATIONS, params={"limit": 2, "page": 3}, headers=app.headers)
    ).json()
    # matches Dify: has_more only says the page was full.
    assert len(last["data"]) == 2 and last["has_more"] is True and last["page"] == 3
    beyond = (
        await client.get(ANNOTATIONS, params={"limit": 2, "page": 4}, headers=app.headers)
    ).json()
    assert beyond["data"] == [] and beyond["has_more"] is False
    capped = (await client.get(ANNOTATIONS, params={"limit": 500}, headers=app.headers)).json()
    assert capped["limit"] == 100 and len(capped["data"]) == 6

    by_answer = await client.get(ANNOTATIONS, params={"keyword": "ANSWER 3"}, headers=app.headers)
    assert [item["question"] for item in by_answer.json()["data"]] == ["question 3"]
    assert by_answer.json()["total"] == 1
    # LIKE wildcards in the keyword are plain characters.
    percent = await client.get(ANNOTATIONS, params={"keyword": "%"}, headers=app.headers)
    assert [item["question"] for item in percent.json()["data"]] == ["100% off?"]
    underscore = await client.get(ANNOTATIONS, params={"keyword": "s_h"}, headers=app.headers)
    assert underscore.json()["total"] == 0


async def test_another_apps_annotations_are_invisible(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await keyed_app(client, settings)
    stranger = await keyed_app(client, settings)
    created = await add(client, owner, "Secret?", "Yes.")
    url = f"{ANNOTATIONS}/{created['id']}"

    listed = await client.get(ANNOTATIONS, headers=stranger.headers)
    assert listed.json()["data"] == [] and listed.json()["total"] == 0
    body = {"question": "Mine now?", "answer": "No."}
    assert (await client.put(url, json=body, headers=stranger.headers)).status_code == 404
    assert (await client.delete(url, headers=stranger.headers)).status_code == 404
    still = (await client.get(ANNOTATIONS, headers=owner.headers)).json()["data"]
    assert [item["question"] for item in still] == ["Secret?"]


async def test_bad_input(client: httpx.AsyncClient, settings: Settings) -> None:
    app = await keyed_app(client, settings)
    missing = await client.post(ANNOTATIONS, json={"question": "Only?"}, headers=app.headers)
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_param"
    wrong_type = await client.post(
        ANNOTATIONS, json={"question": ["a"], "answer": "b"}, headers=app.headers
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "invalid_param"
    not_json = await client.post(
        ANNOTATIONS,
        content=b"{",
        headers={**app.headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["code"] == "bad_request"
    for params in ({"page": 0}, {"limit": 0}, {"page": "x"}):
        response = await client.get(ANNOTATIONS, params=params, headers=app.headers)
        assert response.status_code == 400, params
    body = {"question": "q", "answer": "a"}
    not_uuid = await client.put(f"{ANNOTATIONS}/not-a-uuid", json=body, headers=app.headers)
    assert not_uuid.status_code == 404
    unknown = await client.put(f"{ANNOTATIONS}/{uuid.uuid4()}", json=body, headers=app.headers)
    assert unknown.status_code == 404 and unknown.json()["message"] == "Annotation not found"
    no_key = await client.get(ANNOTATIONS)
    assert no_key.status_code == 401 and no_key.json()["code"] == "unauthorized"


async def test_reply_job_input_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    app = await keyed_app(client, settings)
    other = await keyed_app(client, settings)
    for action in ("enable", "disable"):
        partial = {"embedding_provider_name": "local", "score_threshold": 0.5}
        response = await client.post(f"{REPLY}/{action}", json=partial, headers=app.headers)
        assert response.status_code == 400 and response.json()["code"] == "invalid_param"
    for threshold in (1.5, -0.1, "high"):
        body = {**LOCAL_EMBEDDING, "score_threshold": threshold}
        response = await client.post(f"{REPLY}/enable", json=body, headers=app.headers)
        assert response.status_code == 400, threshold
    bad_action = await client.post(f"{REPLY}/toggle", json=LOCAL_EMBEDDING, headers=app.headers)
    assert bad_action.status_code == 400 and bad_action.json()["code"] == "invalid_param"
    unknown_model = {**LOCAL_EMBEDDING, "embedding_model_name": "no-such-embedder"}
    refused = await client.post(f"{REPLY}/enable", json=unknown_model, headers=app.headers)
    assert refused.status_code == 400

    unknown = await client.get(f"{REPLY}/enable/status/{uuid.uuid4()}", headers=app.headers)
    assert unknown.status_code == 400
    assert unknown.json() == {
        "code": "invalid_param",
        "message": "The job does not exist.",
        "status": 400,
    }
    started = await client.post(f"{REPLY}/disable", json=LOCAL_EMBEDDING, headers=app.headers)
    job_id = started.json()["job_id"]
    assert (
        await client.get(f"{REPLY}/disable/status/{job_id}", headers=app.headers)
    ).status_code == 200
    # Another app's job, or the same job under the other action, does not exist.
    foreign = await client.get(f"{REPLY}/disable/status/{job_id}", headers=other.headers)
    assert foreign.status_code == 400
    crossed = await client.get(f"{REPLY}/enable/status/{job_id}", headers=app.headers)
    assert crossed.status_code == 400


async def _reply_config(settings: Settings, app_id: str) -> dict[str, Any] | None:
    async with db_session(settings) as session:
        row = await session.get(App, uuid.UUID(app_id))
        assert row is not None and row.app_model_config_id is not None
        config = await session.get(AppModelConfig, row.app_model_config_id)
        assert config is not None
        return config.annotation_reply


async def _match(app: FastAPI, app_id: str, query: str) -> tuple[str, float, int] | None:
    context = app.state.ore
    async with context.db.unit_of_work() as session:
        row = await session.get(App, uuid.UUID(app_id))
        assert row is not None
        found = await match_annotation(
            session, context.models, context.settings.SECRET_KEY, row, query
        )
        if found is None:
            return None
        annotation, score = found
        return annotation.question, score, annotation.hit_count


async def test_enable_reply_embeds_with_the_local_model_then_matches(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    keyed = await keyed_app(client, settings)
    await add(client, keyed, "How do I reset my password?", "Use the reset link on the login page.")
    await add(client, keyed, "What are your opening hours?", "9 to 5, Monday to Friday.")
    assert await _match(app, keyed.app_id, "I forgot my password, how can I change it?") is None

    started = await client.post(f"{REPLY}/enable", json=LOCAL_EMBEDDING, headers=keyed.headers)
    assert started.status_code == 200, started.text
    assert set(started.json()) == {"job_id", "job_status"}
    assert started.json()["job_status"] in ("waiting", "processing", "completed")
    done = await wait_for_job(client, keyed, "enable", started.json()["job_id"])
    assert done == {"job_id": started.json()["job_id"], "job_status": "completed", "error_msg": ""}
    assert await _reply_config(settings, keyed.app_id) == {
        "enabled": True,
        "score_threshold": 0.8,
        "embedding_model": {
            "embedding_provider_name": "local",
            "embedding_model_name": EMBEDDING_MODEL_NAME,
        },
    }

    matched = await _match(app, keyed.app_id, "I forgot my password, how can I change it?")
    assert matched is not None
    question, score, hits = matched
    assert question == "How do I reset my password?" and 0.8 <= score <= 1.0001 and hits == 1
    again = await _match(app, keyed.app_id, "password reset: how?")
    assert again is not None and again[0] == question and again[2] == 2
    assert await _match(app, keyed.app_id, "What is the capital of France?") is None

    # An annotation added while reply is on is matched too.
    await add(client, keyed, "Do you ship to Canada?", "Yes, within 10 days.")
    shipped = await _match(app, keyed.app_id, "Is shipping to Canada available?")
    assert shipped is not None and shipped[0] == "Do you ship to Canada?"

    stopped = await client.post(f"{REPLY}/disable", json=LOCAL_EMBEDDING, headers=keyed.headers)
    assert stopped.status_code == 200 and stopped.json()["job_status"] == "completed"
    status = await client.get(
        f"{REPLY}/disable/status/{stopped.json()['job_id']}", headers=keyed.headers
    )
    assert status.json()["job_status"] == "completed"
    assert await _reply_config(settings, keyed.app_id) == {"enabled": False}
    assert await _match(app, keyed.app_id, "I forgot my password, how can I change it?") is None


async def test_enable_with_an_unconfigured_provider_fails_the_job(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    keyed = await keyed_app(client, settings)
    await add(client, keyed, "Hello?", "Hi.")
    body = {**LOCAL_EMBEDDING, "embedding_provider_name": "openai"}
    body["embedding_model_name"] = "text-embedding-3-small"
    started = await client.post(f"{REPLY}/enable", json=body, headers=keyed.headers)
    assert started.status_code == 200, started.text
    done = await wait_for_job(client, keyed, "enable", started.json()["job_id"])
    assert done["job_status"] == "error"
    assert "provider credentials" in done["error_msg"]
    assert await _reply_config(settings, keyed.app_id) == {"enabled": False}


# --- stored question vectors -------------------------------------------------------------

VECTOR_MODEL = f"local/{EMBEDDING_MODEL_NAME}"
MINILM_DIMENSION = 384


class EmbedCalls:
    """Records the texts of every embedding call that reaches the local adapter (the real
    model still answers): what a match or an enable really asked the model for."""

    def __init__(self, context: OreContext, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[list[str]] = []
        adapter = context.models.adapter("local")
        original = adapter.embed

        async def counting(request: EmbeddingRequest, *args: Any, **kwargs: Any) -> Any:
            self.texts.append(list(request.texts))
            return await original(request, *args, **kwargs)

        monkeypatch.setattr(adapter, "embed", counting)


async def _rows(settings: Settings, app_id: str) -> dict[str, MessageAnnotation]:
    async with db_session(settings) as session:
        rows = await session.scalars(
            select(MessageAnnotation).where(MessageAnnotation.app_id == uuid.UUID(app_id))
        )
        return {row.question: row for row in rows}


async def _embed_directly(context: OreContext, tenant_id: uuid.UUID, text: str) -> list[float]:
    async with context.db.unit_of_work() as session:
        bound = await model_providers.bind_model(
            session,
            context.models,
            context.settings.SECRET_KEY,
            tenant_id,
            "local",
            EMBEDDING_MODEL_NAME,
            "text-embedding",
        )
    return (await bound.embed([text])).embeddings[0]


async def _forget_cached(context: OreContext, texts: list[str]) -> None:
    """Empty the embedding cache of ``texts``, as a restart of an embedded process does."""
    cache = context.models.embedding_cache("local", f"{EMBEDDING_MODEL_NAME}:")
    keys = [cache.key(text) for text in texts]
    assert all([await context.kv.get(key) is not None for key in keys])
    assert await context.kv.delete(*keys) == len(keys)


async def _enable(client: httpx.AsyncClient, keyed: KeyedApp) -> str:
    started = await client.post(f"{REPLY}/enable", json=LOCAL_EMBEDDING, headers=keyed.headers)
    assert started.status_code == 200, started.text
    job_id: str = started.json()["job_id"]
    done = await wait_for_job(client, keyed, "enable", job_id)
    assert done["job_status"] == "completed", done
    return job_id


async def test_enable_stores_vectors_and_a_match_embeds_only_the_query(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    context: OreContext = app.state.ore
    keyed = await keyed_app(client, settings)
    questions = [
        "How do I reset my password?",
        "What are your opening hours?",
        "Do you ship to Canada?",
    ]
    for question in questions:
        await add(client, keyed, question, f"About: {question}")
    before = await _rows(settings, keyed.app_id)
    assert {row.embedding_model for row in before.values()} == {None}  # reply was off
    calls = EmbedCalls(context, monkeypatch)

    job_id = await _enable(client, keyed)

    rows = await _rows(settings, keyed.app_id)
    assert sorted(text for batch in calls.texts for text in batch) == sorted(questions)
    for question, row in rows.items():
        assert row.embedding_model == VECTOR_MODEL
        assert row.question_embedding is not None
        assert len(row.question_embedding) == MINILM_DIMENSION
        direct = await _embed_directly(context, keyed.member.tenant.id, question)
        assert row.question_embedding == pytest.approx(direct, abs=1e-6)
    async with db_session(settings) as session:
        run = await session.get(TaskRun, uuid.UUID(job_id))
        assert run is not None and run.result == {"app_id": keyed.app_id, "embedded": 3}
        assert run.progress == {"embedded": 3, "total": 3}

    # A restart empties the embedding cache: the stored vectors still spare the questions.
    await _forget_cached(context, questions)
    calls.texts.clear()
    query = "I forgot my password, how can I change it?"
    matched = await _match(app, keyed.app_id, query)
    assert matched is not None and matched[0] == "How do I reset my password?"
    assert calls.texts == [[query]]

    # Enabling again embeds nothing: every row holds a vector of that model.
    calls.texts.clear()
    again = await _enable(client, keyed)
    async with db_session(settings) as session:
        rerun = await session.get(TaskRun, uuid.UUID(again))
        assert rerun is not None and rerun.result == {"app_id": keyed.app_id, "embedded": 0}
    assert calls.texts == []


async def test_a_vector_of_another_model_is_replaced_at_the_next_match(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    context: OreContext = app.state.ore
    keyed = await keyed_app(client, settings)
    await add(client, keyed, "How do I reset my password?", "Use the reset link.")
    await add(client, keyed, "What are your opening hours?", "9 to 5.")
    await _enable(client, keyed)
    hours = (await _rows(settings, keyed.app_id))["What are your opening hours?"]
    async with db_session(settings) as session:
        await session.execute(
            update(MessageAnnotation)
            .where(MessageAnnotation.id == hours.id)
            .values(question_embedding=[1.0, 0.0, 0.0], embedding_model="openai/old-embedder")
        )
    await _forget_cached(context, ["What are your opening hours?"])
    calls = EmbedCalls(context, monkeypatch)

    query = "What are the opening hours?"
    matched = await _match(app, keyed.app_id, query)

    assert matched is not None and matched[0] == "What are your opening hours?"
    assert calls.texts == [[query, "What are your opening hours?"]]  # one call
    stored = (await _rows(settings, keyed.app_id))["What are your opening hours?"]
    assert stored.embedding_model == VECTOR_MODEL
    assert stored.question_embedding is not None
    assert len(stored.question_embedding) == MINILM_DIMENSION
    calls.texts.clear()
    assert await _match(app, keyed.app_id, "Which opening hours do you have?") is not None
    assert calls.texts == [["Which opening hours do you have?"]]


async def test_create_and_update_while_reply_is_on_store_the_vector(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    context: OreContext = app.state.ore
    keyed = await keyed_app(client, settings)
    await _enable(client, keyed)  # no annotations yet
    calls = EmbedCalls(context, monkeypatch)

    created = await add(client, keyed, "Do you ship to Canada?", "Yes.")
    assert calls.texts == [["Do you ship to Canada?"]]
    row = (await _rows(settings, keyed.app_id))["Do you ship to Canada?"]
    assert row.embedding_model == VECTOR_MODEL
    assert row.question_embedding is not None
    assert len(row.question_embedding) == MINILM_DIMENSION
    first_vector = row.question_embedding

    url = f"{ANNOTATIONS}/{created['id']}"
    answer_only = await client.put(
        url,
        json={"question": "Do you ship to Canada?", "answer": "Yes, in 10 days."},
        headers=keyed.headers,
    )
    assert answer_only.status_code == 200, answer_only.text
    assert calls.texts == [["Do you ship to Canada?"]]  # same question: no new call
    renamed = await client.put(
        url,
        json={"question": "Can I get a refund?", "answer": "Within 30 days."},
        headers=keyed.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert calls.texts[-1] == ["Can I get a refund?"]
    rows = await _rows(settings, keyed.app_id)
    assert set(rows) == {"Can I get a refund?"}
    vector = rows["Can I get a refund?"].question_embedding
    assert vector is not None and len(vector) == MINILM_DIMENSION
    direct = await _embed_directly(context, keyed.member.tenant.id, "Can I get a refund?")
    assert vector == pytest.approx(direct, abs=1e-6)
    assert vector != pytest.approx(first_vector, abs=1e-3)

    calls.texts.clear()
    matched = await _match(app, keyed.app_id, "Can I get a refund, please?")
    assert matched is not None and matched[0] == "Can I get a refund?"
    assert calls.texts == [["Can I get a refund, please?"]]


async def test_a_chat_embeds_its_query_before_the_start_unit(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Annotation reply embeds the query ahead of the unit that stores the message: while
    the model embeds, other units of work still write (on SQLite the start unit holds the
    process's one write lock, and a remote embedding model can take seconds), and the unit
    does not embed it a second time."""
    context: OreContext = app.state.ore
    keyed = await keyed_app(client, settings)
    await add(client, keyed, "How do I reset my password?", "Use the reset link.")
    await _enable(client, keyed)
    query = "I forgot my password, how can I change it?"
    adapter = context.models.adapter("local")
    original = adapter.embed
    texts: list[list[str]] = []
    written_meanwhile: list[bool] = []

    async def write_elsewhere() -> None:
        async with context.db.unit_of_work() as session:
            await session.execute(
                update(App).where(App.id == uuid.UUID(keyed.app_id)).values(description="x")
            )

    async def embedding(request: EmbeddingRequest, *args: Any, **kwargs: Any) -> Any:
        texts.append(list(request.texts))
        if query in request.texts:
            try:
                await asyncio.wait_for(asyncio.create_task(write_elsewhere()), timeout=5)
                written_meanwhile.append(True)
            except TimeoutError:
                written_meanwhile.append(False)
        return await original(request, *args, **kwargs)

    monkeypatch.setattr(adapter, "embed", embedding)
    body = {"query": query, "inputs": {}, "user": "ada", "response_mode": "blocking"}
    response = await client.post("/v1/chat-messages", json=body, headers=keyed.headers)

    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "Use the reset link."
    assert texts == [[query]]
    assert written_meanwhile == [True]
