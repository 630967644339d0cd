//! `/admin/providers`: each upstream's last 5 minutes: calls, errors, latency p50/p99, last error, failovers.

use super::{admin_error, AdminTabs};
use crate::i18n::*;
use crate::shared::admin::ProvidersView;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "admin_providers")]
pub async fn admin_providers() -> Result<ProvidersView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            Ok(crate::server::admin_view::providers(&state))
        }
        .await,
    )
}

#[component]
pub fn AdminProvidersPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| admin_providers());
    view! {
        <Title text={tu_string!(i18n, admin.providers.page_title)} />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => providers_view(v).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Suspense>
    }
}

fn providers_view(v: ProvidersView) -> impl IntoView {
    let i18n = use_i18n();
    let rows = v.rows;
    let provider = tu_string!(i18n, admin.providers.provider);
    let calls = tu_string!(i18n, admin.common.calls);
    let errors = tu_string!(i18n, admin.common.errors);
    let failovers = tu_string!(i18n, admin.providers.failovers);
    let last_error = tu_string!(i18n, admin.providers.last_error);
    view! {
        <AdminTabs current="providers" />
        <h1>{t!(i18n, admin.tabs.providers)}</h1>
        {v.uses_mock.then(|| view! {
            <p class="notice" role="note">{t!(i18n, admin.providers.mock_notice)}</p>
        })}
        <p class="muted">{t!(i18n, admin.providers.intro)}</p>
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label={tu_string!(i18n, admin.tabs.providers)}>
            <table class="data cards" data-testid="providers">
                <thead><tr>
                    <th>{provider}</th><th class="num">{calls}</th><th class="num">{errors}</th><th class="num">"p50"</th>
                    <th class="num">"p99"</th><th class="num">{failovers}</th><th>{last_error}</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|p| view! {
                        <tr>
                            <td data-label=provider class="strong">{p.name}</td>
                            <td class="num" data-label=calls>{p.calls}</td>
                            <td class="num" data-label=errors>{format!("{} ({})", p.errors, p.error_rate)}</td>
                            <td class="num" data-label="p50">{p.p50}</td>
                            <td class="num" data-label="p99">{p.p99}</td>
                            <td class="num" data-label=failovers>{p.failovers}</td>
                            <td class="small" data-label=last_error>
                                {if p.last_error.is_empty() { tu_string!(i18n, admin.providers.none).to_string() } else { p.last_error }}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
