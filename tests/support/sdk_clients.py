"""Real clients against Gatehouse: the official `anthropic` and `openai` Python SDKs, plain and streaming,
on the Claude Code channel, its OpenAI-compatible twin, and the plain channel. Exits non-zero on any failure.

Usage: sdk_clients.py BASE_URL API_KEY
"""
import sys

import anthropic
import openai

base, key = sys.argv[1], sys.argv[2]

# Anthropic SDK on the Claude Code channel (what ANTHROPIC_BASE_URL points at for Claude Code).
claude = anthropic.Anthropic(base_url=f"{base}/api/v1/ai/anthropic/cc-omg", api_key=key)
msg = claude.messages.create(
    model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "Hello from the SDK"}]
)
assert msg.content[0].type == "text" and "mock upstream" in msg.content[0].text, msg
assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0, msg.usage

with claude.messages.stream(
    model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": "Stream to the SDK"}]
) as stream:
    text = "".join(stream.text_stream)
    final = stream.get_final_message()
assert "mock upstream" in text, text
assert final.usage.output_tokens > 0, final.usage

count = claude.messages.count_tokens(model="claude-opus-4-1", messages=[{"role": "user", "content": "Count me"}])
assert count.input_tokens > 0, count

# Errors arrive as the SDK's typed exceptions.
try:
    claude.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    raise SystemExit("an unknown model was served")
except anthropic.NotFoundError:
    pass
try:
    anthropic.Anthropic(base_url=f"{base}/api/v1/ai/anthropic/cc-omg", api_key="sk-gh-wrong").messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    raise SystemExit("a wrong key was accepted")
except anthropic.AuthenticationError:
    pass

# OpenAI SDK on the seed's Immersive Translate URL shape (Claude model, translated) and on the plain channel.
translate = openai.OpenAI(base_url=f"{base}/api/v1/ai/openai/cc-omg/v1", api_key=key)
done = translate.chat.completions.create(
    model="claude-haiku-4-5",
    messages=[{"role": "system", "content": "Translate to French."}, {"role": "user", "content": "Good morning"}],
)
assert "Good morning" in done.choices[0].message.content, done
assert done.usage.prompt_tokens > 0, done.usage

chunks = translate.chat.completions.create(
    model="claude-haiku-4-5",
    messages=[{"role": "user", "content": "Stream it"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, usage = [], None
for chunk in chunks:
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
assert "mock upstream" in "".join(pieces), pieces
assert usage is not None and usage.completion_tokens > 0, usage

plain = openai.OpenAI(base_url=f"{base}/v1", api_key=key)
gpt = plain.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
assert gpt.choices[0].finish_reason == "stop", gpt
models = [m.id for m in plain.models.list()]
assert "gpt-4o" in models and "claude-haiku-4-5" in models, models

print("sdk clients: all calls passed")
