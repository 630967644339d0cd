//! "Contact support" beside errors that need a person: the operator's `SUPPORT_EMAIL`, when set.

use crate::app::components::layout::ViewerResource;
use leptos::prelude::*;

#[component]
pub fn ContactSupport(#[prop(into)] lead: String) -> impl IntoView {
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
                            {lead} " " <a href=format!("mailto:{email}")>{email.clone()}</a> "."
                        </p>
                    })
                })
            }}
        </Transition>
    }
}
