//! "Contact support" beside errors that need a person: the operator's `SUPPORT_EMAIL`, when set. Callers
//! pass the lead in the page's language (`common.questions_write_to`, `common.keeps_happening_write_to`).

use crate::app::components::layout::ViewerResource;
use crate::i18n::*;
use leptos::prelude::*;

#[component]
pub fn ContactSupport(#[prop(into)] lead: String) -> impl IntoView {
    let i18n = use_i18n();
    let viewer = use_context::<ViewerResource>();
    view! {
        <Transition fallback=|| ()>
            {move || {
                let lead = lead.clone();
                Suspend::new(async move {
                    let email = match viewer {
                        Some(v) => v.await.ok().and_then(|v| v.support_email),
                        None => None,
                    };
                    email.map(|email| view! {
                        <p class="muted small" data-testid="contact-support">
                            {lead} " " <a href=format!("mailto:{email}")>{email.clone()}</a> {t!(i18n, common.sentence_end)}
                        </p>
                    })
                })
            }}
        </Transition>
    }
}
