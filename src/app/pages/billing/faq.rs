//! The billing FAQ, with the seed's answers.

use leptos::prelude::*;

#[component]
pub fn Faq() -> impl IntoView {
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
                    " shows deduction records. If everything looks right and the balance still drops, write to us."
                </p>
            </details>
            <details>
                <summary>"How do I raise my rate limit?"</summary>
                <p>
                    "Accounts that never topped up get 60 requests per minute, which is not enough for tools such as "
                    "Immersive Translate. Paid top-ups of CNY 20 in total raise the limit to 1000 RPM, and CNY 300 to "
                    "10000 RPM, at once. Redemption codes and resource packages do not count."
                </p>
            </details>
            <details>
                <summary>"What does Claude Code cost once my package is used up?"</summary>
                <p>
                    "The Claude Code and CodeX channels charge the official API price x 0.2 to your balance. Resource "
                    "packages pay the official price and are not multiplied: a Claude Opus 4.1 call worth $1 takes $1 from "
                    "a package, or $0.20 from your balance when no package covers it."
                </p>
            </details>
        </section>
    }
}
