"""One real loop end to end on the local model: its grammar forces the first call to the
calculator, the calculator answers, and the model writes the answer from the result."""

from __future__ import annotations

import json

from ore.core.agent import AgentAnswer, AgentFinished, AgentThought, run_agent
from ore.core.model_runtime import ChatMessage, build_registry
from ore.core.model_runtime.entities import NamedToolChoice
from ore.core.tools import CalculatorTool, CurrentTimeTool
from tests.core.agent.conftest import Bound

CHAT = "SmolLM2-135M-Instruct"


async def test_forced_calculator_call_then_a_free_answer() -> None:
    local = Bound(build_registry().get("local"))
    events = [
        event
        async for event in run_agent(
            local,
            [ChatMessage(role="user", content="What is 12 * 7? Use the calculator.")],
            [CalculatorTool(), CurrentTimeTool()],
            model_name=CHAT,
            parameters={"max_tokens": 48, "temperature": 0, "seed": 7},
            tool_choice=NamedToolChoice(name="eval_expression"),
        )
    ]
    thoughts = [e for e in events if isinstance(e, AgentThought)]
    assert [(t.position, t.tool) for t in thoughts] == [(1, "eval_expression"), (2, "")]
    [invocation] = thoughts[0].invocations
    assert invocation.provider == "maths"
    assert isinstance(invocation.arguments, dict) and "expression" in invocation.arguments
    # The observation is exactly what the calculator says of the model's expression.
    expected = await CalculatorTool().invoke(invocation.arguments)
    assert invocation.result == expected
    assert json.loads(thoughts[0].observation) == {"eval_expression": expected.text}
    assert json.loads(thoughts[0].tool_input) == {"eval_expression": invocation.arguments}

    finished = events[-1]
    assert isinstance(finished, AgentFinished)
    assert finished.model_calls == 2
    assert finished.answer == "".join(e.text for e in events if isinstance(e, AgentAnswer))
    assert finished.answer == thoughts[1].thought
    turns = [t.usage for t in thoughts]
    assert all(u is not None and not u.estimated for u in turns)
    assert finished.usage.prompt_tokens == sum(u.prompt_tokens for u in turns if u)
    assert finished.usage.completion_tokens == sum(u.completion_tokens for u in turns if u) > 0
    # The second prompt carried the call and its result back to the model.
    assert [m.role for m in finished.messages] == ["user", "assistant", "tool", "assistant"]
    assert finished.messages[2].content == expected.text
