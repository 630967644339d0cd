//! The billing FAQ, with the seed's answers.

use crate::shared::billing::BalanceView;
use leptos::prelude::*;

/// The FAQ with this server's tiers and rates.
#[component]
pub fn Faq(v: BalanceView) -> impl IntoView {
    let base = v.tiers.first().map(|t| t.1).unwrap_or(60);
    let support = v.support_email.clone();
    let raises: Vec<String> =
        v.tiers.iter().skip(1).map(|(t, rpm)| format!("{t} in total raise it to {rpm} RPM")).collect();
    let raise_text =
        if raises.is_empty() { String::new() } else { format!(" Paid top-ups of {}, at once.", raises.join(", and ")) };
    view! {
        <section class="faq" id="faq">
            <h2>"Frequently asked questions"</h2>
            <details>
                <summary>"Why am I getting a 402 error?"</summary>
                <p>
                    "When your balance is $0 or less, API access is blocked with HTTP 402, whatever resource packages "
                    "you still have. A balance usually goes below zero after calling paid services without topping up. "
                    "We keep capacity for accounts in good standing, so calls resume as soon as a "
                    <a href="/billing/topup">"top-up"</a> " makes your balance positive again."
                </p>
            </details>
            <details>
                <summary>"Why is my balance still negative after topping up?"</summary>
                <p>
                    "The top-up paid off part of what you owed, but not all of it. Before heavy use, check that you call the "
                    "right API (the Claude Code channel for a Claude Code package) and that your "
                    <a href="/billing/packages">"resource package"</a>
                    " shows deduction records. If everything looks right and the balance still drops, write to us"
                    {support.clone().map(|email| view! { " at " <a href=format!("mailto:{email}")>{email.clone()}</a> })}
                    "."
                </p>
            </details>
            <details>
                <summary>"How do I raise my rate limit?"</summary>
                <p>
                    {format!("Accounts that never topped up get {base} requests per minute, which is not enough for tools such as Immersive Translate.")}
                    {raise_text}
                    " Redemption codes and resource packages do not count."
                </p>
            </details>
            <details>
                <summary>"What does Claude Code cost once my package is used up?"</summary>
                <p>
                    {format!(
                        "The Claude Code channel charges the official API price x {} to your balance. Resource packages pay the \
                         official price and are not multiplied: a Claude Opus 4.1 call worth $1 takes $1 from a package, or {} \
                         from your balance when no package covers it.",
                        v.claude_code_rate, v.claude_code_dollar
                    )}
                </p>
            </details>
            {support.map(|email| view! {
                <details>
                    <summary>"How do I contact support?"</summary>
                    <p data-testid="faq-support">
                        "Write to " <a href=format!("mailto:{email}")>{email.clone()}</a>
                        ". Say which account (its email) and, for a call, the request id from the Bills page. Payments made "
                        "by bank transfer, Alipay or WeChat Pay are recorded by us on request and count toward your rate limit."
                    </p>
                </details>
            })}
        </section>
    }
}
