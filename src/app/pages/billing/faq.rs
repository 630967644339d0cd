//! The billing FAQ, with the seed's answers.

use crate::i18n::*;
use crate::shared::billing::BalanceView;
use crate::shared::text::fill;
use leptos::prelude::*;

/// The FAQ with this server's tiers and rates.
#[component]
pub fn Faq(v: BalanceView) -> impl IntoView {
    let i18n = use_i18n();
    let base = v.tiers.first().map(|t| t.1).unwrap_or(60);
    let support = v.support_email.clone();
    let raises: Vec<String> = v
        .tiers
        .iter()
        .skip(1)
        .map(|(t, rpm)| fill(tu_string!(i18n, faq.raise_item), &[("amount", t), ("rpm", rpm)]))
        .collect();
    let raise_text = if raises.is_empty() {
        String::new()
    } else {
        fill(tu_string!(i18n, faq.raise_text), &[("raises", &raises.join(tu_string!(i18n, faq.raise_join)))])
    };
    let rate_limit_answer = fill(tu_string!(i18n, faq.a_rate_limit), &[("base", &base), ("raise", &raise_text)]);
    let claude_code_answer =
        fill(tu_string!(i18n, faq.a_claude_code), &[("rate", &v.claude_code_rate), ("dollar", &v.claude_code_dollar)]);
    let negative_answer = match support.clone() {
        Some(email) => {
            let mailto = format!("mailto:{email}");
            t!(
                i18n,
                faq.a_negative_write_at,
                <pkg> = <a href="/billing/packages" />,
                <mail> = <a href=mailto.clone() />,
                email = move || email.clone()
            )
            .into_any()
        }
        None => t!(i18n, faq.a_negative, <pkg> = <a href="/billing/packages" />).into_any(),
    };
    view! {
        <section class="faq" id="faq">
            <h2>{t!(i18n, faq.title)}</h2>
            <details>
                <summary>{t!(i18n, faq.q_402)}</summary>
                <p>{t!(i18n, faq.a_402, <a> = <a href="/billing/topup" />)}</p>
            </details>
            <details>
                <summary>{t!(i18n, faq.q_negative)}</summary>
                <p>{negative_answer}</p>
            </details>
            <details>
                <summary>{t!(i18n, faq.q_rate_limit)}</summary>
                <p>{rate_limit_answer}</p>
            </details>
            <details>
                <summary>{t!(i18n, faq.q_claude_code)}</summary>
                <p>{claude_code_answer}</p>
            </details>
            {support.map(|email| {
                let mailto = format!("mailto:{email}");
                view! {
                    <details>
                        <summary>{t!(i18n, faq.q_support)}</summary>
                        <p data-testid="faq-support">
                            {t!(i18n, faq.a_support, <a> = <a href=mailto.clone() />, email = move || email.clone())}
                        </p>
                    </details>
                }
            })}
        </section>
    }
}
