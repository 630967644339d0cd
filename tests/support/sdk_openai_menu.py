"""A real client of OpenAI's embeddings, legacy completions, text to speech and images: the official `openai`
Python SDK embeds (as it asks by default, base64, decoded by the SDK to floats; and as floats), completes text
(plain and streamed), reads text out (whole and streamed; gpt-4o-mini-tts as audio and as its event stream), makes and edits images (DALL-E per image, gpt-image
per token, an edit's files sent as a form, a streamed image) through Gatehouse, and gets OpenAI-shaped errors
it raises as its own exceptions. Exits non-zero on any failure.

Usage: sdk_openai_menu.py BASE_URL API_KEY
"""
import base64
import io
import json
import math
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)

# Embeddings: the SDK asks for base64 and decodes it; one vector per input, unit length.
e = client.embeddings.create(model="text-embedding-3-small", input=["The sea at night.", "A quiet harbour."])
assert len(e.data) == 2 and e.data[1].index == 1, e
vector = e.data[0].embedding
assert len(vector) == 1536 and abs(math.sqrt(sum(x * x for x in vector)) - 1) < 1e-3, len(vector)
assert e.usage.prompt_tokens > 0 and e.usage.total_tokens == e.usage.prompt_tokens, e.usage

# Floats asked for, with fewer dimensions.
f = client.embeddings.create(
    model="text-embedding-3-large", input="The sea at night.", encoding_format="float", dimensions=256
)
assert len(f.data[0].embedding) == 256, len(f.data[0].embedding)

# Legacy completions, plain and streamed.
c = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=60)
assert c.object == "text_completion" and "mock upstream" in c.choices[0].text, c
assert c.usage.completion_tokens > 0, c.usage
pieces = list(
    client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="Once upon a time",
        max_tokens=60,
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(p.choices[0].text for p in pieces if p.choices)
assert text == c.choices[0].text, (text, c.choices[0].text)
assert pieces[-1].usage.completion_tokens == c.usage.completion_tokens, pieces[-1]

# Text to speech: the audio as bytes, and streamed to a file.
speech = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the sea.", response_format="wav")
assert speech.content[:4] == b"RIFF", speech.content[:16]
with client.audio.speech.with_streaming_response.create(model="tts-1-hd", voice="nova", input="Hello again.") as r:
    streamed = b"".join(r.iter_bytes())
assert streamed[:2] == b"\xff\xfb" and len(streamed) > 1000, len(streamed)

# gpt-4o-mini-tts is billed per token: the audio as bytes (with instructions), and its event stream.
told = client.audio.speech.create(
    model="gpt-4o-mini-tts", voice="coral", input="Hello from the harbour.", instructions="Speak warmly."
)
assert told.content[:2] == b"\xff\xfb" and len(told.content) % 417 == 0, len(told.content)
with client.audio.speech.with_streaming_response.create(
    model="gpt-4o-mini-tts", voice="coral", input="Hello from the harbour.", stream_format="sse"
) as r:
    assert r.headers["content-type"] == "text/event-stream", r.headers
    events = [json.loads(line[len("data: "):]) for line in r.iter_lines() if line.startswith("data: ")]
deltas = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
assert deltas == told.content, (len(deltas), len(told.content))
assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] > 0, events[-1]

# Images: DALL-E 3 in base64, hd and wide ($0.12); DALL-E 2 as URLs.
img = client.images.generate(
    model="dall-e-3", prompt="A lighthouse at dusk", size="1792x1024", quality="hd", response_format="b64_json"
)
picture = base64.b64decode(img.data[0].b64_json)
assert picture[:8] == b"\x89PNG\r\n\x1a\n" and img.data[0].revised_prompt, img.data[0]
urls = client.images.generate(model="dall-e-2", prompt="A cat", n=2, size="256x256")
assert len(urls.data) == 2 and urls.data[0].url.startswith("https://"), urls

# gpt-image: an edit of two files sent as a form (the SDK's `image[]`), billed its tokens.
edited = client.images.edit(
    model="gpt-image-1",
    image=[("a.png", io.BytesIO(picture), "image/png"), ("b.png", io.BytesIO(picture), "image/png")],
    prompt="Make both blue",
    quality="low",
)
assert edited.usage.input_tokens_details.image_tokens == 2 * 323, edited.usage
assert base64.b64decode(edited.data[0].b64_json)[:4] == b"\x89PNG", edited.data[0].b64_json[:16]

# A streamed picture: its partial images, then the picture with its usage.
kinds = [
    e.type
    for e in client.images.generate(model="gpt-image-1", prompt="A red kite", stream=True, partial_images=1)
]
assert kinds == ["image_generation.partial_image", "image_generation.completed"], kinds

# Refusals the SDK raises as its own errors, none charged.
try:
    client.images.generate(model="dall-e-3", prompt="x", size="256x256")
    raise SystemExit("a size without a price was accepted")
except openai.BadRequestError as err:
    assert "has no price" in err.message, err.message
try:
    client.embeddings.create(model="gpt-4o", input="hi")
    raise SystemExit("a chat model was accepted for embeddings")
except openai.BadRequestError as err:
    assert "/v1/chat/completions" in err.message, err.message
try:
    client.completions.create(model="text-embedding-3-small", prompt="hi")
    raise SystemExit("an embedding model was accepted for completions")
except openai.BadRequestError as err:
    assert "/v1/embeddings" in err.message, err.message
try:
    client.embeddings.create(model="text-embedding-9", input="hi")
    raise SystemExit("an unknown model was accepted")
except openai.NotFoundError as err:
    assert "text-embedding-9" in err.message, err.message

print("all calls passed")
