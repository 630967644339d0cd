//! `/chat`: web chat. A sidebar of the person's conversations (newest first, rename, delete) and a New
//! conversation button; the conversation with a model picker (Claude Sonnet 4.5, "CS4.5", by default),
//! a Deep thinking toggle, the messages, and a box where Enter sends and Shift+Enter starts a new line.
//! Replies stream in as they are written (thinking in a collapsible block above the answer) and can be
//! stopped. Each reply is a call on the `web-chat` channel, paid like any API call.

use crate::app::components::error_text::{error_text, error_text_in};
use crate::app::components::reply_stream::{stream_slot, ReplyStream, StreamSlot};
use crate::app::pages::billing::load_error_saying;
use crate::i18n::*;
use crate::shared::dto::{AskedReply, ChatEvent, ChatMessageRow, ChatSetup, ChatThread, ConversationRow, NoThinking};
use crate::shared::error::AppError;
use crate::shared::markdown;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

#[server(endpoint = "chat_setup")]
pub async fn load_chat_setup() -> Result<ChatSetup, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            require_user(&state).await?;
            Ok(crate::server::chat::setup(&state))
        }
        .await,
    )
}

#[server(endpoint = "chat_conversations")]
pub async fn list_conversations() -> Result<Vec<ConversationRow>, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::chat::conversations(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[server(endpoint = "chat_thread")]
pub async fn load_thread(id: i64) -> Result<ChatThread, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::chat::thread(&state, user.id, id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[server(endpoint = "chat_ask")]
pub async fn ask_reply(
    conversation_id: Option<i64>,
    text: String,
    model: String,
    thinking: bool,
) -> Result<AskedReply, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let locale = crate::server::fn_support::locale();
            crate::server::chat::ask(&state, user.id, conversation_id, &text, &model, thinking, locale).await
        }
        .await,
    )
}

#[server(endpoint = "chat_rename")]
pub async fn rename_conversation(id: i64, title: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::chat::rename(&state, user.id, id, &title, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[server(endpoint = "chat_delete")]
pub async fn delete_conversation(id: i64) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::chat::delete(&state, user.id, id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

/// Everything the page shares between its parts.
#[derive(Clone, Copy)]
struct Chat {
    current: Memo<Option<i64>>,
    /// The messages on screen once this page has changed them (sent, streamed); `None`: as loaded.
    shown: RwSignal<Option<Vec<ChatMessageRow>>>,
    model: RwSignal<String>,
    thinking: RwSignal<bool>,
    draft: RwSignal<String>,
    streaming: RwSignal<bool>,
    stream: StreamSlot,
    list_version: RwSignal<u32>,
    error: RwSignal<Option<String>>,
    /// The message box, where focus returns after a send or Stop.
    compose: NodeRef<leptos::html::Textarea>,
    /// The page's language, for the messages written outside the view (a lost stream, a refused send).
    locale: Locale,
}

fn message(id: i64, role: &str, content: String, model_label: String, status: &str) -> ChatMessageRow {
    ChatMessageRow {
        id,
        role: role.into(),
        content,
        html: String::new(),
        thinking: String::new(),
        model_label,
        status: status.into(),
        error: None,
        error_billing: false,
    }
}

impl Chat {
    /// Applies one streamed event to the reply at the end of the conversation.
    fn on_event(self, ev: ChatEvent) {
        let finished = matches!(ev.t.as_str(), "done" | "error");
        self.shown.update(|list| {
            let Some(reply) = list.as_mut().and_then(|l| l.last_mut()) else { return };
            match ev.t.as_str() {
                "text" => {
                    reply.content.push_str(ev.v.as_deref().unwrap_or(""));
                    reply.html = markdown::to_html(&reply.content);
                }
                "thinking" => reply.thinking.push_str(ev.v.as_deref().unwrap_or("")),
                "done" => reply.status = "done".into(),
                "error" => {
                    reply.status = "failed".into();
                    reply.error = ev.v.clone();
                    reply.error_billing = ev.billing.unwrap_or(false);
                }
                _ => {}
            }
        });
        if finished {
            self.end_stream();
        }
    }

    fn end_stream(self) {
        self.stream.update_value(|s| {
            if let Some(s) = s.take() {
                s.close();
            }
        });
        self.streaming.set(false);
        self.list_version.update(|v| *v += 1);
        // The page may have been redrawn under the person (a new conversation gets its address): focus that
        // went nowhere returns to the message box.
        let lost = document().active_element().is_none_or(|el| el.tag_name().eq_ignore_ascii_case("body"));
        if lost {
            self.focus_compose();
        }
    }

    fn focus_compose(self) {
        if let Some(el) = self.compose.get_untracked() {
            let _ = el.focus();
        }
    }

    /// Stop: closing the stream tells the server, which bills what was written and keeps it.
    fn stop(self) {
        self.focus_compose();
        self.shown.update(|list| {
            if let Some(reply) = list.as_mut().and_then(|l| l.last_mut()) {
                reply.status = "stopped".into();
            }
        });
        self.end_stream();
    }

    /// Streams a reply into the last message on screen.
    fn open(self, reply_id: i64) {
        self.streaming.set(true);
        let on_event = move |ev| self.on_event(ev);
        let on_lost = move || {
            if self.streaming.get_untracked() {
                self.on_event(ChatEvent {
                    t: "error".into(),
                    v: Some(td_string!(self.locale, chat.connection_lost).into()),
                    billing: None,
                });
            }
        };
        match ReplyStream::open(reply_id, on_event, on_lost) {
            Some(stream) => self.stream.set_value(Some(stream)),
            None => self.streaming.set(false),
        }
    }

    fn send(self, model_label: String, navigate: impl Fn(&str, NavigateOptions) + 'static) {
        let text = self.draft.get_untracked().trim().to_string();
        if text.is_empty() || self.streaming.get_untracked() {
            return;
        }
        let conversation = self.current.get_untracked();
        let model = self.model.get_untracked();
        let thinking = self.thinking.get_untracked();
        self.draft.set(String::new());
        self.error.set(None);
        self.streaming.set(true);
        self.focus_compose();
        spawn_local(async move {
            match ask_reply(conversation, text.clone(), model, thinking).await {
                Ok(asked) => {
                    self.shown.update(|list| {
                        let list = list.get_or_insert_with(Vec::new);
                        list.push(message(asked.reply_id - 1, "user", text, String::new(), "done"));
                        list.push(message(asked.reply_id, "assistant", String::new(), model_label, "streaming"));
                    });
                    if conversation != Some(asked.conversation_id) {
                        let options = NavigateOptions { replace: true, scroll: false, ..Default::default() };
                        navigate(&format!("/chat?c={}", asked.conversation_id), options);
                    }
                    self.list_version.update(|v| *v += 1);
                    self.open(asked.reply_id);
                }
                Err(e) => {
                    self.draft.set(text);
                    self.error.set(Some(error_text_in(&e, self.locale)));
                    self.streaming.set(false);
                }
            }
        });
    }
}

#[component]
pub fn ChatPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let current = Memo::new(move |_| query.read().get("c").and_then(|c| c.parse::<i64>().ok()));
    let chat = Chat {
        current,
        shown: RwSignal::new(None),
        model: RwSignal::new(String::new()),
        thinking: RwSignal::new(false),
        draft: RwSignal::new(String::new()),
        streaming: RwSignal::new(false),
        stream: stream_slot(),
        list_version: RwSignal::new(0),
        // A message posted without JavaScript that could not be sent comes back with its reason.
        error: RwSignal::new(query.read_untracked().get("error")),
        compose: NodeRef::new(),
        locale: i18n.get_locale_untracked(),
    };
    let rename = ServerAction::<RenameConversation>::new();
    let delete = ServerAction::<DeleteConversation>::new();
    let setup = Resource::new(|| (), |_| load_chat_setup());
    let conversations = Resource::new(
        move || (chat.list_version.get(), rename.version().get(), delete.version().get()),
        |_| list_conversations(),
    );
    let thread = Resource::new(
        move || current.get(),
        |c| async move {
            match c {
                Some(id) => load_thread(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // Deleting the open conversation leaves an empty one. (The action forgets its input when it finishes,
    // so the id is noted when it starts.)
    let deleting = RwSignal::new(None::<i64>);
    Effect::new(move |_| {
        if let Some(d) = delete.input().get() {
            deleting.set(Some(d.id));
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            if deleting.get_untracked().is_some() && deleting.get_untracked() == current.get_untracked() {
                chat.shown.set(None);
                navigate("/chat", NavigateOptions::default());
            }
        }
    });
    view! {
        <Title text=tu_string!(i18n, chat.title) />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match setup.await {
                    Ok(setup) => chat_view(chat, setup, conversations, thread, rename, delete).into_any(),
                    Err(e) => load_error_saying(e, "/chat", tu_string!(i18n, chat.login_title), tu_string!(i18n, chat.login_why)),
                }
            })}
        </Suspense>
    }
}

type ThreadResource = Resource<Result<Option<ChatThread>, AppError>>;

fn chat_view(
    chat: Chat,
    setup: ChatSetup,
    conversations: Resource<Result<Vec<ConversationRow>, AppError>>,
    thread: ThreadResource,
    rename: ServerAction<RenameConversation>,
    delete: ServerAction<DeleteConversation>,
) -> impl IntoView {
    let i18n = use_i18n();
    if chat.model.get_untracked().is_empty() {
        chat.model.set(setup.default_model.clone());
    }
    let models = StoredValue::new(setup.models.clone());
    let selected = move || models.with_value(|ms| ms.iter().find(|m| m.id == chat.model.get()).cloned());
    let supports_thinking = move || selected().is_some_and(|m| m.thinking);
    let label_of =
        move |id: String| models.with_value(|ms| ms.iter().find(|m| m.id == id).map(|m| m.label.clone()).unwrap_or(id));
    // The open conversation's model and thinking choice become the picker's; a reply asked for but never
    // streamed (the tab closed at once) is streamed now.
    Effect::new(move |_| {
        if let Some(Ok(Some(t))) = thread.get() {
            chat.model.set(t.conversation.model.clone());
            chat.thinking.set(t.conversation.thinking);
            if let Some(last) = t.messages.last().filter(|m| m.status == "pending" && m.role == "assistant") {
                if !chat.streaming.get_untracked() {
                    let mut list = t.messages.clone();
                    if let Some(reply) = list.last_mut() {
                        reply.status = "streaming".into();
                    }
                    chat.shown.set(Some(list));
                    chat.open(last.id);
                }
            }
        }
    });
    let navigate = use_navigate();
    let send = move || chat.send(label_of(chat.model.get_untracked()), navigate.clone());
    let send_on_enter = send.clone();
    view! {
        {setup.mock_upstream.then(|| view! {
            <p class="notice demo" data-testid="chat-mock">{t!(i18n, chat.mock_notice)}</p>
        })}
        <div class="chat" data-testid="chat">
            <aside class="chat-sidebar">
                <a class="btn primary new-chat" href="/chat" on:click=move |_| chat.shown.set(None)>{t!(i18n, chat.new_conversation)}</a>
                {move || {
                    let failed = rename.value().get().and_then(Result::err).or_else(|| delete.value().get().and_then(Result::err));
                    failed.map(|e| view! { <p class="form-error small" role="alert">{error_text(&e)}</p> })
                }}
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match conversations.await {
                            Ok(rows) if rows.is_empty() => view! { <p class="muted small">{t!(i18n, chat.no_conversations)}</p> }.into_any(),
                            Ok(rows) => view! {
                                <ul class="conversations" data-testid="conversations">
                                    {rows.into_iter().map(|c| conversation_item(chat, c, rename, delete)).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <p class="form-error">{error_text(&e)}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </aside>
            <section class="chat-pane">
                <div class="chat-toolbar">
                    <label class="model-pick">
                        <span>{t!(i18n, chat.model)}</span>
                        <select
                            name="model"
                            form="compose"
                            data-testid="model"
                            prop:value=move || chat.model.get()
                            on:change=move |ev| chat.model.set(event_target_value(&ev))
                        >
                            {setup.models.iter().map(|m| {
                                let id = m.id.clone();
                                let text = if m.price.is_empty() {
                                    m.label.clone()
                                } else {
                                    let per_million = tu_string!(i18n, chat.model_price);
                                    crate::shared::text::fill(per_million, &[("model", &m.label), ("price", &m.price)])
                                };
                                view! { <option value=id.clone() selected=move || chat.model.get() == id>{text}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="check thinking-toggle" class:off=move || !supports_thinking()>
                        <input
                            type="checkbox"
                            name="thinking"
                            form="compose"
                            data-testid="thinking"
                            prop:checked=move || chat.thinking.get() && supports_thinking()
                            disabled=move || !supports_thinking()
                            on:change=move |ev| chat.thinking.set(event_target_checked(&ev))
                        />
                        " "{t!(i18n, chat.deep_thinking)}
                    </label>
                    <span class="muted small" data-testid="thinking-why">
                        // The server says why a model has no thinking; the page words it.
                        {move || match selected().and_then(|m| m.no_thinking) {
                            Some(NoThinking::NotClaude) => tu_string!(i18n, chat.no_thinking_gpt),
                            Some(NoThinking::OlderClaude) => tu_string!(i18n, chat.no_thinking_older_claude),
                            None => "",
                        }}
                    </span>
                </div>
                <div class="messages" data-testid="messages">
                    <Transition fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match thread.await {
                                Ok(loaded) => {
                                    let base = loaded.map(|t| t.messages).unwrap_or_default();
                                    view! {
                                        {move || {
                                            let live = chat.shown.get();
                                            let is_live = live.is_some();
                                            let list = live.unwrap_or_else(|| base.clone());
                                            if list.is_empty() {
                                                view! { <p class="muted empty-chat">{t!(i18n, chat.empty)}</p> }.into_any()
                                            } else {
                                                list.into_iter().map(|m| message_view(m, is_live)).collect_view().into_any()
                                            }
                                        }}
                                    }.into_any()
                                }
                                Err(e) => load_error_saying(e, "/chat", tu_string!(i18n, chat.login_title), tu_string!(i18n, chat.login_why)),
                            }
                        })}
                    </Transition>
                </div>
                {move || chat.error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                // Hydrated, the page sends and streams the reply; before that (or without JavaScript) the
                // browser posts the form and the server answers with the finished conversation.
                <form id="compose" class="compose" method="post" action="/chat" on:submit=move |ev| { ev.prevent_default(); send(); }>
                    {move || chat.current.get().map(|id| view! { <input type="hidden" name="conversation_id" value=id.to_string() /> })}
                    <textarea
                        name="text"
                        required
                        node_ref=chat.compose
                        data-testid="compose"
                        rows="3"
                        placeholder=tu_string!(i18n, chat.compose_placeholder)
                        aria-label=tu_string!(i18n, chat.compose_label)
                        prop:value=move || chat.draft.get()
                        on:input=move |ev| chat.draft.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                                ev.prevent_default();
                                send_on_enter();
                            }
                        }
                    ></textarea>
                    {move || if chat.streaming.get() {
                        view! { <button type="button" class="btn danger" data-testid="stop" on:click=move |_| chat.stop()>{t!(i18n, chat.stop)}</button> }.into_any()
                    } else {
                        view! { <button type="submit" class="btn primary" data-testid="send">{t!(i18n, chat.send)}</button> }.into_any()
                    }}
                </form>
            </section>
        </div>
    }
}

fn conversation_item(
    chat: Chat,
    c: ConversationRow,
    rename: ServerAction<RenameConversation>,
    delete: ServerAction<DeleteConversation>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = c.id;
    let title = c.title.clone();
    view! {
        <li class:active=move || chat.current.get() == Some(id)>
            <a href=format!("/chat?c={id}") class="conversation-link" on:click=move |_| chat.shown.set(None)>
                <span class="title" translate="no">{c.title}</span>
                <span class="muted small">{c.updated}</span>
            </a>
            <details class="conversation-menu">
                <summary aria-label=tu_string!(i18n, chat.conversation_actions)>"⋯"</summary>
                <ActionForm action=rename attr:class="inline-rename" attr:onsubmit=crate::app::inline_handlers::CLOSE_MENU>
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="text" name="title" value=title aria-label=tu_string!(i18n, chat.conversation_title) />
                    <button type="submit" class="btn ghost small">{t!(i18n, chat.rename)}</button>
                </ActionForm>
                <ActionForm action=delete attr:class="inline-form" attr:data-confirm=tu_string!(i18n, chat.confirm_delete) attr:onsubmit=crate::app::inline_handlers::CONFIRM>
                    <input type="hidden" name="id" value=id.to_string() />
                    <button type="submit" class="btn ghost small danger">{t!(i18n, chat.delete)}</button>
                </ActionForm>
            </details>
        </li>
    }
}

/// One message; `live` when this page is writing it (otherwise an unfinished reply is another tab's).
fn message_view(m: ChatMessageRow, live: bool) -> impl IntoView {
    let i18n = use_i18n();
    let is_user = m.role == "user";
    let streaming = m.status == "streaming" || m.status == "pending";
    let has_thinking = !m.thinking.is_empty();
    view! {
        <article class="message" class:user=is_user class:assistant=!is_user data-status=m.status.clone()>
            {if is_user {
                view! { <div class="bubble plain">{m.content}</div> }.into_any()
            } else {
                view! {
                    <div class="bubble">
                        <div class="meta muted small">{m.model_label}{(m.status == "stopped").then(|| tu_string!(i18n, chat.stopped_suffix))}</div>
                        {has_thinking.then(|| view! {
                            <details class="thinking" open=streaming data-testid="thinking-block">
                                <summary>{t!(i18n, chat.thinking)}</summary>
                                <div class="thinking-text">{m.thinking}</div>
                            </details>
                        })}
                        <div class="md" inner_html=m.html></div>
                        {(streaming && m.content.is_empty() && live).then(|| view! { <p class="muted small typing">{t!(i18n, chat.writing)}</p> })}
                        {(streaming && !live).then(|| view! { <p class="muted small typing">{t!(i18n, chat.still_being_written)}</p> })}
                        {m.error.map(|e| view! {
                            <p class="chat-error" role="alert">
                                {e}
                                {m.error_billing.then(|| view! { " " <a href="/billing">{t!(i18n, chat.go_to_billing)}</a> })}
                            </p>
                        })}
                    </div>
                }.into_any()
            }}
        </article>
    }
}
