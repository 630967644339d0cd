"""A real client of the Responses API: the official `openai` Python SDK creates (plain and streamed),
retrieves, lists the input items of and deletes responses through Gatehouse, for a GPT model (passed through)
and a Claude model (translated, continued with previous_response_id). Exits non-zero on any failure.

Usage: sdk_responses.py BASE_URL API_KEY
"""
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base}/v1", api_key=key)

r = client.responses.create(model="gpt-5-mini", input="Hello from the Responses API", max_output_tokens=500)
assert r.status == "completed" and "mock upstream" in r.output_text, r
assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage

got = client.responses.retrieve(r.id)
assert got.id == r.id and got.output_text == r.output_text, got
items = client.responses.input_items.list(r.id)
assert items.data[0].content[0].text == "Hello from the Responses API", items

# Streamed: the SDK's event helper assembles the final response from the events.
with client.responses.stream(model="gpt-5-mini", input="Stream it", max_output_tokens=500) as stream:
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    final = stream.get_final_response()
assert "mock upstream" in "".join(deltas) and final.output_text == "".join(deltas), final
assert final.usage.output_tokens > 0, final.usage

# A Claude model: translated to the Messages API and back, kept by Gatehouse, continued, streamed.
first = client.responses.create(
    model="claude-haiku-4-5", instructions="Be brief.", input="Hello Claude", max_output_tokens=300
)
assert "Hello Claude" in first.output_text, first
events = list(
    client.responses.create(
        model="claude-haiku-4-5", previous_response_id=first.id, input="And again", max_output_tokens=300, stream=True
    )
)
assert events[0].type == "response.created" and events[-1].type == "response.completed", [e.type for e in events]
second = events[-1].response
assert "And again" in second.output_text, second
assert client.responses.retrieve(second.id).output_text == second.output_text

# Deleting: the SDK returns nothing, and the response is gone.
client.responses.delete(r.id)
client.responses.delete(first.id)
for gone in (r.id, first.id):
    try:
        client.responses.retrieve(gone)
        raise SystemExit(f"{gone} was deleted but is still there")
    except openai.NotFoundError:
        pass

print("responses sdk: all calls passed")
