//! `/dev/mailbox` (dev mode only, 404 in production): the emails Gatehouse would have sent, so a person
//! can open the login email and click its link on a machine without SMTP.

use crate::app::pages::not_found::NotFound;
use crate::shared::dto::DevMailSummary;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// `Ok(None)`: dev mode, but mail goes through SMTP so there is no mailbox.
#[server(endpoint = "dev_mailbox")]
pub async fn list_dev_mail() -> Result<Option<Vec<DevMailSummary>>, AppError> {
    use crate::server::fn_support::{answer, state};
    use crate::server::time::format_utc;
    answer(
        async {
            let state = state()?;
            if !state.settings.is_dev() {
                return Err(AppError::NotFound);
            }
            Ok(state.mailer.dev_mailbox().map(|m| {
                m.list()
                    .into_iter()
                    .map(|s| DevMailSummary {
                        id: s.id,
                        to: s.email.to,
                        subject: s.email.subject,
                        sent_at: format_utc(s.sent_at),
                        text_body: s.email.text,
                    })
                    .collect()
            }))
        }
        .await,
    )
}

#[component]
pub fn DevMailboxPage() -> impl IntoView {
    let mail = Resource::new(|| (), |_| list_dev_mail());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match mail.await {
                    Err(AppError::NotFound) => view! { <NotFound /> }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                    Ok(None) => view! {
                        <Title text="Dev mailbox" />
                        <section class="card">
                            <h1>"Dev mailbox"</h1>
                            <p class="muted">"Mail is sent through SMTP (SMTP_URL is set), so nothing is kept here."</p>
                        </section>
                    }.into_any(),
                    Ok(Some(messages)) => mailbox(messages).into_any(),
                }
            })}
        </Suspense>
    }
}

fn mailbox(messages: Vec<DevMailSummary>) -> impl IntoView {
    let empty = messages.is_empty();
    view! {
        <Title text="Dev mailbox" />
        <section class="card">
            <div class="card-head">
                <div>
                    <p class="eyebrow">"Demo mode"</p>
                    <h1>"Dev mailbox"</h1>
                </div>
                <a class="btn ghost small" href="/dev/mailbox" rel="external">"Refresh"</a>
            </div>
            <p class="muted">
                "Gatehouse runs without SMTP, so emails are kept here instead of being sent. Newest first; "
                "restarting the server empties it."
            </p>
            {empty.then(|| view! { <p class="empty">"No emails yet. Request a login link on the " <a href="/login">"login page"</a> "."</p> })}
            <ul class="mail-list">
                {messages
                    .into_iter()
                    .map(|m| {
                        view! {
                            <li class="mail-item">
                                <div class="mail-meta">
                                    <span class="mail-to">{m.to}</span>
                                    <span class="mail-time">{m.sent_at}</span>
                                </div>
                                <div class="mail-subject">{m.subject}</div>
                                <details>
                                    <summary>"Plain-text part"</summary>
                                    <pre class="mail-text">{m.text_body}</pre>
                                </details>
                                <a class="btn primary small" href=format!("/dev/mailbox/{}", m.id) rel="external">
                                    "Open email"
                                </a>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
