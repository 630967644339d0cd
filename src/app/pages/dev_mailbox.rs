//! `/dev/mailbox` (dev mode only, 404 in production): the emails Gatehouse would have sent, so a person
//! can open the login email and click its link on a machine without SMTP.

use crate::app::components::error_text::error_text_in;
use crate::app::pages::not_found::NotFound;
use crate::i18n::*;
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
    let i18n = use_i18n();
    let mail = Resource::new(|| (), |_| list_dev_mail());
    view! {
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match mail.await {
                    Err(AppError::NotFound) => view! { <NotFound /> }.into_any(),
                    Err(e) => view! { <p class="form-error">{error_text_in(&e, i18n.get_locale_untracked())}</p> }.into_any(),
                    Ok(None) => view! {
                        <Title text=tu_string!(i18n, mailbox.title) />
                        <section class="card">
                            <h1>{t!(i18n, mailbox.title)}</h1>
                            <p class="muted">{t!(i18n, mailbox.smtp_in_use)}</p>
                        </section>
                    }.into_any(),
                    Ok(Some(messages)) => mailbox(messages).into_any(),
                }
            })}
        </Suspense>
    }
}

fn mailbox(messages: Vec<DevMailSummary>) -> impl IntoView {
    let i18n = use_i18n();
    let empty = messages.is_empty();
    view! {
        <Title text=tu_string!(i18n, mailbox.title) />
        <section class="card">
            <div class="card-head">
                <div>
                    <p class="eyebrow">{t!(i18n, mailbox.demo_mode)}</p>
                    <h1>{t!(i18n, mailbox.title)}</h1>
                </div>
                <a class="btn ghost small" href="/dev/mailbox" rel="external">{t!(i18n, mailbox.refresh)}</a>
            </div>
            <p class="muted">{t!(i18n, mailbox.intro)}</p>
            {empty.then(|| view! { <p class="empty">{t!(i18n, mailbox.empty, <a> = <a href="/login" />)}</p> })}
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
                                    <summary>{t!(i18n, mailbox.plain_text_part)}</summary>
                                    <pre class="mail-text">{m.text_body}</pre>
                                </details>
                                <a class="btn primary small" href=format!("/dev/mailbox/{}", m.id) rel="external">
                                    {t!(i18n, mailbox.open_email)}
                                </a>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
