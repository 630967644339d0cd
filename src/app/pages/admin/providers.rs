//! `/admin/providers`: each upstream's last 5 minutes: calls, errors, latency p50/p99, last error, failovers.

use super::{admin_error, AdminTabs};
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
    let data = Resource::new(|| (), |_| admin_providers());
    view! {
        <Title text="Providers · Admin console" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
    let rows = v.rows;
    view! {
        <AdminTabs current="providers" />
        <h1>"Providers"</h1>
        {v.uses_mock.then(|| view! {
            <p class="notice" role="note">"Without upstream credentials, calls are answered by the built-in demo upstream (mock provider), not a real model."</p>
        })}
        <p class="muted">"Each upstream over the last 5 minutes, as this server saw it. Reload for fresh figures."</p>
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Providers">
            <table class="data cards" data-testid="providers">
                <thead><tr>
                    <th>"Provider"</th><th class="num">"Calls"</th><th class="num">"Errors"</th><th class="num">"p50"</th>
                    <th class="num">"p99"</th><th class="num">"Failovers"</th><th>"Last error"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|p| view! {
                        <tr>
                            <td data-label="Provider" class="strong">{p.name}</td>
                            <td class="num" data-label="Calls">{p.calls}</td>
                            <td class="num" data-label="Errors">{format!("{} ({})", p.errors, p.error_rate)}</td>
                            <td class="num" data-label="p50">{p.p50}</td>
                            <td class="num" data-label="p99">{p.p99}</td>
                            <td class="num" data-label="Failovers">{p.failovers}</td>
                            <td class="small" data-label="Last error">{if p.last_error.is_empty() { "none".to_string() } else { p.last_error }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
