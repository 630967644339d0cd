//! The prices page's data: every model of the price table in force, its official prices, and what the
//! balance pays for it on each channel that serves it (official price × the channel's multiplier).

use crate::i18n::{td_string, Locale};
use crate::server::billing_view::{channel_label, channel_short};
use crate::server::domain::pricing::{ModelKind, Pricing, Unit, AUDIO_TOKENS_PER_SECOND, PLAIN_CHANNEL};
use crate::shared::numbers::thousands;
use crate::shared::prices::{ChannelPrice, ModelPriceRow, PricesView};
use crate::shared::text::fill;
use rust_decimal::Decimal;

/// A price per million tokens: `$3`, `$0.30`, `$1.25`, `$0.075`.
pub fn per_million(d: Decimal) -> String {
    let d = d.normalize();
    match d.scale() {
        0 => format!("${d}"),
        1 => format!("${d:.2}"),
        _ => format!("${d}"),
    }
}

fn provider(id: &str) -> &'static str {
    if id.starts_with("claude") {
        "Anthropic"
    } else {
        "OpenAI"
    }
}

/// The page's data, its words in `locale`.
pub fn prices(pricing: &Pricing, locale: Locale) -> PricesView {
    let channels = pricing.multipliers.all();
    let models = pricing
        .table
        .model_ids()
        .into_iter()
        .filter_map(|id| pricing.table.lookup(id).map(|p| (id, p)))
        .map(|(id, price)| {
            let r = price.base_rates();
            // An image model priced per image has no token prices to show.
            let per_image = price.image_prices();
            let by_tokens = per_image.is_empty();
            // An embedding model writes nothing and caches nothing: those prices do not apply; nor does a
            // cache to speech.
            let written = |d: Decimal| if price.writes() && by_tokens { per_million(d) } else { "—".to_string() };
            let cached = |d: Decimal| if price.kind == ModelKind::Speech { "—".to_string() } else { written(d) };
            // Speech is priced per character read out, or per token.
            let read = |d: Decimal| match price.unit() {
                Unit::Characters => fill(td_string!(locale, prices.per_million_chars), &[("price", &per_million(d))]),
                Unit::Images => "—".to_string(),
                Unit::Tokens => per_million(d),
            };
            let unit_note = match (price.kind, by_tokens) {
                (ModelKind::Image, false) => {
                    let list: Vec<String> =
                        per_image.iter().map(|p| format!("{} {} {}", p.size, p.quality, per_million(p.usd))).collect();
                    Some(fill(td_string!(locale, prices.per_image), &[("list", &list.join(" · "))]))
                }
                // A token-priced image model's third and fourth columns: image input, and cached.
                (ModelKind::Image, true) => Some(fill(
                    td_string!(locale, prices.image_input),
                    &[("price", &per_million(r.cache_write_5m)), ("cached", &per_million(r.cache_write_1h))],
                )),
                // Speech billed per token: its output is audio, shown as what a minute of it costs.
                (ModelKind::Speech, _) if price.writes() => {
                    let minute = r.output * Decimal::from(AUDIO_TOKENS_PER_SECOND * 60) / Decimal::from(1_000_000u32);
                    Some(fill(td_string!(locale, prices.audio_output), &[("price", &per_million(minute.round_dp(3)))]))
                }
                _ => None,
            };
            // Channels serving the model, those with the same multiplier on one line.
            let mut balance_pays: Vec<(Decimal, Vec<String>)> = Vec::new();
            for (channel, m) in &channels {
                if !pricing.serves(channel, id) {
                    continue;
                }
                match balance_pays.iter_mut().find(|(known, _)| known == m) {
                    Some((_, names)) => names.push(channel_short(channel, locale)),
                    None => balance_pays.push((*m, vec![channel_short(channel, locale)])),
                }
            }
            balance_pays.sort_by_key(|(m, _)| *m);
            ModelPriceRow {
                id: id.to_string(),
                provider: provider(id).to_string(),
                input: read(r.input),
                output: written(r.output),
                cache_write_5m: cached(r.cache_write_5m),
                cache_write_1h: cached(r.cache_write_1h),
                cache_read: cached(r.cache_read),
                long_prompt: price.long_prompt_bands().first().map(|(above, b)| {
                    fill(
                        td_string!(locale, prices.long_prompt),
                        &[
                            ("above", &thousands(i64::try_from(*above).unwrap_or(i64::MAX))),
                            ("input", &per_million(b.input)),
                            ("output", &per_million(b.output)),
                        ],
                    )
                }),
                unit_note,
                balance_pays: balance_pays
                    .into_iter()
                    .map(|(m, names)| {
                        // What the balance pays per million, at the channel's multiplier.
                        let (input, output) = (read(r.input * m), written(r.output * m));
                        (format!("{} ×{}", names.join(", "), m.normalize()), input, output)
                    })
                    .collect(),
            }
        })
        .collect();
    PricesView {
        channels: channels
            .iter()
            .map(|(c, m)| ChannelPrice {
                label: channel_label(c, locale),
                multiplier: m.normalize().to_string(),
                // Channels other than the plain API's serve chat models only.
                serves: pricing
                    .channels
                    .described(c)
                    .or_else(|| (c != PLAIN_CHANNEL).then(|| td_string!(locale, prices.chat_models).to_string())),
            })
            .collect(),
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn prices_per_million_read_as_people_write_them() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(per_million(d("3")), "$3");
        assert_eq!(per_million(d("0.3")), "$0.30");
        assert_eq!(per_million(d("1.25")), "$1.25");
        assert_eq!(per_million(d("0.075")), "$0.075");
        assert_eq!(per_million(d("15.00")), "$15");
    }

    #[test]
    fn each_model_shows_what_the_balance_pays_on_the_channels_serving_it() {
        let pricing = Pricing {
            table: crate::server::domain::pricing::PriceTable::shipped().unwrap(),
            multipliers: Default::default(),
            channels: Default::default(),
            table_text: String::new(),
        };
        let view = prices(&pricing, Locale::en);
        let sonnet = view.models.iter().find(|m| m.id == "claude-sonnet-4-5").unwrap();
        assert_eq!((sonnet.input.as_str(), sonnet.output.as_str()), ("$3", "$15"));
        assert_eq!(sonnet.balance_pays[0], ("Claude Code ×0.2".to_string(), "$0.60".to_string(), "$3".to_string()));
        assert!(sonnet.balance_pays[1].0.contains("Standard") && sonnet.balance_pays[1].1 == "$3");
        assert!(sonnet.balance_pays.iter().all(|(c, _, _)| !c.contains("CodeX")));
        let gpt = view.models.iter().find(|m| m.id == "gpt-5").unwrap();
        assert!(gpt.balance_pays.iter().any(|(c, _, _)| c.starts_with("CodeX")));
        assert!(gpt.balance_pays.iter().all(|(c, _, _)| !c.contains("Claude Code")));
        // Models that are not chat models are served on the plain API alone, and priced in their unit.
        for id in ["gpt-3.5-turbo-instruct", "text-embedding-3-small", "tts-1"] {
            let m = view.models.iter().find(|m| m.id == id).unwrap();
            assert_eq!(m.balance_pays.len(), 1, "{id}: {:?}", m.balance_pays);
            assert!(m.balance_pays[0].0.starts_with("Standard"), "{id}: {:?}", m.balance_pays);
        }
        let tts = view.models.iter().find(|m| m.id == "tts-1").unwrap();
        assert_eq!((tts.input.as_str(), tts.output.as_str()), ("$15 per 1M characters", "—"));
        // Speech billed per token: text in and audio out per million tokens, no cache, and a minute's price.
        let mini = view.models.iter().find(|m| m.id == "gpt-4o-mini-tts").unwrap();
        assert_eq!((mini.input.as_str(), mini.output.as_str(), mini.cache_read.as_str()), ("$0.60", "$12", "—"));
        assert_eq!(mini.unit_note.as_deref(), Some("Output is audio: about $0.015 a minute"));
    }
}
