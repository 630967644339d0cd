//! `/docs`: how to use a key in Claude Code, Codex, Immersive Translate, curl and the Python SDKs (embeddings,
//! legacy completions and the key management API included), with this
//! server's base URL filled in, a placeholder where the key goes, and the signed-in person's keys named.

use crate::app::components::error_text::error_text;
use crate::i18n::*;
use crate::shared::dto::DocsView;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "docs")]
pub async fn get_docs() -> Result<DocsView, AppError> {
    use crate::server::fn_support::{answer, current_user, state};
    answer(
        async {
            let state = state()?;
            let user = current_user(&state).await?;
            let keys = match &user {
                Some(u) => crate::server::domain::keys::list(state.db.pool(), u.id)
                    .await?
                    .into_iter()
                    .filter(|k| !k.disabled)
                    .map(|k| (k.name, k.prefix))
                    .collect(),
                None => Vec::new(),
            };
            Ok::<_, AppError>(DocsView {
                base_url: state.public_base_url.to_string(),
                keys,
                signed_in: user.is_some(),
                mock_upstream: state.gateway.uses_mock(),
                rates: {
                    let prices = state.pricing.current();
                    ["cc-omg", "codex-omg", "default"]
                        .map(|c| prices.multipliers.for_channel(c).normalize().to_string())
                },
            })
        }
        .await,
    )
}

#[component]
pub fn DocsPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_docs());
    view! {
        <Title text={tu_string!(i18n, docs.title)} />
        <h1>{t!(i18n, docs.title)}</h1>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => docs(v).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What the examples show where a key goes: keys are shown once and stored hashed, so the page never has a
/// whole key, and a cut one that looks real would fail when pasted. (`docs.key_hint` in locales/ repeats it
/// inside its sentence.)
const KEY_PLACEHOLDER: &str = "YOUR_API_KEY";

fn docs(v: DocsView) -> impl IntoView {
    let i18n = use_i18n();
    let [cc_rate, codex_rate, standard_rate] = v.rates.clone();
    let plain_rate = standard_rate.clone();
    let base = v.base_url.clone();
    let snippet = move |template: &'static str| template.replace("{BASE}", &base).replace("{KEY}", KEY_PLACEHOLDER);
    view! {
        {v.mock_upstream.then(|| view! {
            <p class="notice" data-testid="mock-notice">
                {t!(i18n, docs.mock_notice)}
            </p>
        })}
        <section class="card">
            <h2>{t!(i18n, docs.base_url_and_key)}</h2>
            <p><code data-testid="base-url">{v.base_url.clone()}</code></p>
            {if v.keys.is_empty() {
                let hint = if v.signed_in { tu_string!(i18n, docs.hint_create_key) } else { tu_string!(i18n, docs.hint_log_in) };
                view! { <p class="muted">{hint} " " <a href="/keys">{t!(i18n, docs.api_keys)}</a></p> }.into_any()
            } else {
                let yours = v.keys.iter().map(|(name, prefix)| format!("{name} ({prefix})")).collect::<Vec<_>>().join(", ");
                view! {
                    <p data-testid="key-hint">
                        {t!(i18n, docs.key_hint, <code> = <code />, yours = move || yours.clone())}
                    </p>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Claude Code"</h2>
            <p>{t!(i18n, docs.claude_code_intro, rate = move || cc_rate.clone())}</p>
            <pre tabindex="0"><code>{snippet("export ANTHROPIC_BASE_URL={BASE}/api/v1/ai/anthropic/cc-omg\nexport ANTHROPIC_AUTH_TOKEN={KEY}\nclaude")}</code></pre>
        </section>
        <section class="card" data-testid="codex-docs">
            <h2>"Codex"</h2>
            <p>{t!(i18n, docs.codex_intro, rate = move || codex_rate.clone())} " " {t!(i18n, docs.codex_add, <code> = <code />)}</p>
            <pre tabindex="0"><code>{snippet("model = \"gpt-5-codex\"\nmodel_provider = \"gatehouse\"\n\n[model_providers.gatehouse]\nname = \"Gatehouse\"\nbase_url = \"{BASE}/api/v1/ai/openai/codex-omg/v1\"\nenv_key = \"GATEHOUSE_API_KEY\"\nwire_api = \"responses\"")}</code></pre>
            <p>{t!(i18n, docs.codex_start)}</p>
            <pre tabindex="0"><code>{snippet("export GATEHOUSE_API_KEY={KEY}\ncodex")}</code></pre>
        </section>
        <section class="card">
            <h2>{t!(i18n, docs.immersive_translate)}</h2>
            <p>{t!(i18n, docs.immersive_intro)}</p>
            <dl class="facts">
                <div><dt>{t!(i18n, docs.url)}</dt><dd><code>{snippet("{BASE}/api/v1/ai/openai/cc-omg/v1/chat/completions")}</code></dd></div>
                <div><dt>{t!(i18n, docs.model)}</dt><dd><code>"claude-haiku-4-5"</code></dd></div>
                <div><dt>{t!(i18n, docs.api_key)}</dt><dd><code>{snippet("{KEY}")}</code></dd></div>
            </dl>
        </section>
        <section class="card">
            <h2>"curl"</h2>
            <pre tabindex="0"><code>{snippet("curl {BASE}/api/v1/ai/anthropic/cc-omg/v1/messages \\\n  -H 'x-api-key: {KEY}' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \\\n  -d '{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n\ncurl {BASE}/v1/chat/completions \\\n  -H 'Authorization: Bearer {KEY}' -H 'content-type: application/json' \\\n  -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'")}</code></pre>
        </section>
        <section class="card">
            <h2>"Python"</h2>
            <pre tabindex="0"><code>{snippet("import anthropic, openai\n\nclaude = anthropic.Anthropic(base_url=\"{BASE}/api/v1/ai/anthropic/cc-omg\", api_key=\"{KEY}\")\nprint(claude.messages.create(model=\"claude-sonnet-4-5\", max_tokens=256,\n      messages=[{\"role\": \"user\", \"content\": \"Hello\"}]).content[0].text)\n\ngpt = openai.OpenAI(base_url=\"{BASE}/v1\", api_key=\"{KEY}\")\nprint(gpt.chat.completions.create(model=\"gpt-4o-mini\",\n      messages=[{\"role\": \"user\", \"content\": \"Hello\"}]).choices[0].message.content)\nprint(gpt.responses.create(model=\"gpt-5-mini\", input=\"Hello\").output_text)")}</code></pre>
            <p class="muted small">{t!(i18n, docs.channels_note, rate = move || standard_rate.clone())}</p>
        </section>
        <section class="card" data-testid="more-openai-docs">
            <h2>{t!(i18n, docs.more_openai)}</h2>
            <p>{t!(i18n, docs.more_openai_intro, <code> = <code />, rate = move || plain_rate.clone())}</p>
            <pre tabindex="0"><code>{snippet("import openai\n\ngpt = openai.OpenAI(base_url=\"{BASE}/v1\", api_key=\"{KEY}\")\nvectors = gpt.embeddings.create(model=\"text-embedding-3-small\", input=[\"The sea\", \"The sky\"])\nprint(len(vectors.data[0].embedding), vectors.usage.prompt_tokens)\nprint(gpt.completions.create(model=\"gpt-3.5-turbo-instruct\", prompt=\"Once upon a time\",\n      max_tokens=60).choices[0].text)\ngpt.audio.speech.create(model=\"tts-1\", voice=\"alloy\", input=\"Hello\").write_to_file(\"hello.mp3\")\ngpt.audio.speech.create(model=\"gpt-4o-mini-tts\", voice=\"coral\", input=\"Hello\",\n      instructions=\"Speak warmly.\").write_to_file(\"warm.mp3\")\nprint(gpt.images.generate(model=\"dall-e-3\", prompt=\"A lighthouse at dusk\", size=\"1024x1024\").data[0].url)\nwith open(\"photo.png\", \"rb\") as photo:\n    edited = gpt.images.edit(model=\"gpt-image-1\", image=photo, prompt=\"Make the sky blue\")")}</code></pre>
            <pre tabindex="0"><code>{snippet("curl {BASE}/v1/embeddings \\\n  -H 'Authorization: Bearer {KEY}' -H 'content-type: application/json' \\\n  -d '{\"model\":\"text-embedding-3-small\",\"input\":\"The sea\"}'\n\ncurl {BASE}/v1/images/edits -H 'Authorization: Bearer {KEY}' \\\n  -F model=dall-e-2 -F image=@photo.png -F prompt='Add a hat' -F size=512x512")}</code></pre>
        </section>
        <section class="card" data-testid="store-docs">
            <h2>{t!(i18n, docs.store)}</h2>
            <p>{t!(i18n, docs.store_intro, <code> = <code />)}</p>
            <pre tabindex="0"><code>{snippet("import openai\n\ngpt = openai.OpenAI(base_url=\"{BASE}/v1\", api_key=\"{KEY}\")\nkept = gpt.chat.completions.create(model=\"gpt-4o-mini\", store=True, metadata={\"project\": \"kite\"},\n      messages=[{\"role\": \"user\", \"content\": \"Hello\"}])\nfor c in gpt.chat.completions.list(metadata={\"project\": \"kite\"}):\n    print(c.id, c.choices[0].message.content)\ngpt.chat.completions.update(kept.id, metadata={\"project\": \"kite\", \"stage\": \"final\"})\nprint([m.content for m in gpt.chat.completions.messages.list(kept.id)])\ngpt.chat.completions.delete(kept.id)\n\nconv = gpt.conversations.create(items=[{\"type\": \"message\", \"role\": \"user\", \"content\": \"Hello\"}])\nprint(gpt.responses.create(model=\"gpt-5-mini\", input=\"Tell me more\", conversation=conv.id).output_text)\nprint([i.type for i in gpt.conversations.items.list(conv.id)])\ngpt.conversations.delete(conv.id)")}</code></pre>
            <pre tabindex="0"><code>{snippet("curl {BASE}/v1/conversations -H 'Authorization: Bearer {KEY}' -H 'content-type: application/json' \\\n  -d '{\"metadata\":{\"topic\":\"kites\"}}'\n\ncurl -g '{BASE}/v1/chat/completions?metadata[project]=kite&limit=10' -H 'Authorization: Bearer {KEY}'")}</code></pre>
        </section>
        <section class="card" data-testid="key-api-docs">
            <h2>{t!(i18n, docs.key_api)}</h2>
            <p>{t!(i18n, docs.key_api_intro, <code> = <code />)}</p>
            <pre tabindex="0"><code>{snippet("curl {BASE}/api/v1/user/admin/model-multiplier \\\n  -H 'Authorization: Bearer {KEY}' -d 'model=claude-sonnet-4-5,gpt-4o'\n\ncurl -X POST {BASE}/api/v1/user/admin/membership-expiry -H 'Authorization: Bearer {KEY}'")}</code></pre>
        </section>
    }
}
