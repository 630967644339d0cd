//! An amount of USD: the figure by the display rule, the exact one in its tooltip (when they differ).

use crate::i18n::*;
use crate::shared::dto::Usd;
use crate::shared::text::fill;
use leptos::prelude::*;

#[component]
pub fn Amount(usd: Usd, #[prop(optional)] signed: bool) -> impl IntoView {
    let i18n = use_i18n();
    let plus = signed && !usd.shown.starts_with('-') && usd.exact != "$0.00";
    let shown = if plus { format!("+{}", usd.shown) } else { usd.shown.clone() };
    let title = usd.rounded.then(|| fill(tu_string!(i18n, common.exactly), &[("amount", &usd.exact)]));
    view! { <span class="usd" title=title>{shown}</span> }
}
