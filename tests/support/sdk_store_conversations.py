"""A real client of OpenAI's Store of chat completions and its Conversations: the official `openai` Python SDK
stores chat completions (plain and streamed) with metadata, lists them (filtered by metadata and model, paged
with the SDK's own cursor), retrieves one, updates its metadata, lists its messages and deletes it; creates a
conversation with items, adds, lists, retrieves and deletes items, continues it with a response, updates and
deletes it; and gets OpenAI-shaped errors it raises as its own exceptions. Exits non-zero on any failure.

Usage: sdk_store_conversations.py BASE_URL API_KEY
"""
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]

# The Store: two completions kept, one streamed.
a = client.chat.completions.create(model="gpt-4o", messages=messages, store=True, metadata={"project": "kite"})
chunks = list(
    client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, store=True, metadata={"project": "kite", "stage": "draft"}, stream=True
    )
)
b_id = chunks[0].id
assert "mock upstream" in a.choices[0].message.content, a

listed = client.chat.completions.list()
assert [c.id for c in listed.data] == [a.id, b_id], [c.id for c in listed.data]
drafts = client.chat.completions.list(metadata={"stage": "draft"})
assert [c.id for c in drafts.data] == [b_id], drafts
minis = client.chat.completions.list(model="gpt-4o-mini", order="desc")
assert [c.id for c in minis.data] == [b_id], minis
# The SDK's own paging follows `after` across pages.
assert [c.id for c in client.chat.completions.list(limit=1)] == [a.id, b_id]

got = client.chat.completions.retrieve(a.id)
assert got.id == a.id and got.metadata == {"project": "kite"}, got
updated = client.chat.completions.update(a.id, metadata={"project": "kite", "stage": "final"})
assert updated.metadata["stage"] == "final", updated
assert [c.id for c in client.chat.completions.list(metadata={"stage": "final"}).data] == [a.id]
kept = client.chat.completions.messages.list(a.id)
assert [m.content for m in kept.data] == ["Be brief.", "Hello there"], kept
deleted = client.chat.completions.delete(a.id)
assert deleted.deleted and deleted.id == a.id, deleted
try:
    client.chat.completions.retrieve(a.id)
    raise SystemExit("a deleted completion was found")
except openai.NotFoundError as err:
    assert "No chat completion found" in err.message, err.message

# Conversations.
conv = client.conversations.create(
    metadata={"topic": "kites"}, items=[{"type": "message", "role": "user", "content": "Hello"}]
)
assert conv.id.startswith("conv_") and conv.metadata == {"topic": "kites"}, conv
assert client.conversations.retrieve(conv.id).id == conv.id
added = client.conversations.items.create(
    conv.id, items=[{"type": "message", "role": "assistant", "content": "Hi! Kites?"}]
)
item = added.data[0].id
items = client.conversations.items.list(conv.id, order="asc")
assert [i.id for i in items.data][-1] == item and len(items.data) == 2, items
assert client.conversations.items.retrieve(item, conversation_id=conv.id).id == item
r = client.responses.create(model="gpt-5-mini", input="Tell me about kites", conversation=conv.id)
assert "mock upstream" in r.output_text, r
client.conversations.items.delete(item, conversation_id=conv.id)
assert len(client.conversations.items.list(conv.id).data) == 1
assert client.conversations.update(conv.id, metadata={"topic": "kites", "done": "yes"}).metadata["done"] == "yes"
assert client.conversations.delete(conv.id).deleted
try:
    client.conversations.retrieve(conv.id)
    raise SystemExit("a deleted conversation was found")
except openai.NotFoundError as err:
    assert "No conversation found" in err.message, err.message

# Refusals the SDK raises as its own errors, none charged.
try:
    client.chat.completions.create(model="claude-haiku-4-5", messages=messages, store=True)
    raise SystemExit("a Claude model was stored")
except openai.BadRequestError as err:
    assert "OpenAI models only" in err.message, err.message

print("all calls passed")
