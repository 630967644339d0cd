//! Official prices: the operator-editable price table (exact model ids plus family patterns, long-prompt
//! bands), the official cost of one call's usage, and the per-channel multipliers.

use super::money::Money;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;

/// The price table shipped with Gatehouse (`config/prices.conf`).
pub const DEFAULT_PRICE_TABLE: &str = include_str!("../../../config/prices.conf");

/// Token counts of one call, as the upstream reported them. `input` excludes cached tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
}

impl Usage {
    /// The prompt size that picks a long-prompt band.
    pub fn prompt_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }
}

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_write_5m: Decimal,
    pub cache_write_1h: Decimal,
    pub cache_read: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Band {
    /// The band applies when the prompt is larger than this many tokens.
    above: u64,
    rates: Rates,
}

/// The prices of one model (or family): bands ordered by threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPrice {
    pub pattern: String,
    bands: Vec<Band>,
}

impl ModelPrice {
    pub fn rates_for(&self, usage: &Usage) -> Rates {
        let prompt = usage.prompt_tokens();
        let mut chosen = self.bands[0].rates;
        for band in &self.bands {
            if prompt > band.above {
                chosen = band.rates;
            }
        }
        chosen
    }

    /// The base band's rates, for display.
    pub fn base_rates(&self) -> Rates {
        self.bands[0].rates
    }

    /// The official cost of `usage`. Exact: the table's precision makes each token a whole number of units.
    pub fn cost(&self, usage: &Usage) -> Option<Money> {
        let r = self.rates_for(usage);
        let million = Decimal::from(1_000_000u32);
        let part = |tokens: u64, rate: Decimal| Decimal::from(tokens).checked_mul(rate);
        let total = part(usage.input, r.input)?
            .checked_add(part(usage.output, r.output)?)?
            .checked_add(part(usage.cache_write_5m, r.cache_write_5m)?)?
            .checked_add(part(usage.cache_write_1h, r.cache_write_1h)?)?
            .checked_add(part(usage.cache_read, r.cache_read)?)?
            .checked_div(million)?;
        Money::round_from(total)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("price table line {line}: {problem}")]
pub struct PriceTableError {
    pub line: usize,
    pub problem: String,
}

#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    exact: HashMap<String, ModelPrice>,
    /// Family patterns without their `*`, longest first.
    families: Vec<ModelPrice>,
}

impl PriceTable {
    pub fn shipped() -> Result<Self, PriceTableError> {
        Self::parse(DEFAULT_PRICE_TABLE)
    }

    pub fn parse(text: &str) -> Result<Self, PriceTableError> {
        let mut by_pattern: Vec<ModelPrice> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |problem: String| PriceTableError { line: n + 1, problem };
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() != 6 && cols.len() != 7 {
                return Err(err(format!("expected 6 or 7 columns, found {}", cols.len())));
            }
            let pattern = cols[0].to_ascii_lowercase();
            if pattern.trim_end_matches('*').contains('*') || pattern == "*" {
                return Err(err("a `*` may only end a family pattern such as claude-opus-*".into()));
            }
            let price = |i: usize| parse_rate(cols[i]).map_err(|p| err(format!("column {}: {p}", i + 1)));
            let rates = Rates {
                input: price(1)?,
                output: price(2)?,
                cache_write_5m: price(3)?,
                cache_write_1h: price(4)?,
                cache_read: price(5)?,
            };
            let above = match cols.get(6) {
                None => 0,
                Some(t) => t
                    .strip_prefix('>')
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| err(format!("expected a band such as >100000, found {t}")))?,
            };
            match by_pattern.iter_mut().find(|p| p.pattern == pattern) {
                Some(existing) => {
                    if existing.bands.iter().any(|b| b.above == above) {
                        return Err(err(format!("{pattern} is priced twice")));
                    }
                    existing.bands.push(Band { above, rates });
                    existing.bands.sort_by_key(|b| b.above);
                }
                None => {
                    if above != 0 {
                        return Err(err(format!("{pattern}: give the base price before its long-prompt band")));
                    }
                    by_pattern.push(ModelPrice { pattern, bands: vec![Band { above, rates }] });
                }
            }
        }
        let mut table = PriceTable::default();
        for price in by_pattern {
            match price.pattern.strip_suffix('*') {
                Some(prefix) => table.families.push(ModelPrice { pattern: prefix.to_string(), bands: price.bands }),
                None => {
                    table.exact.insert(price.pattern.clone(), price);
                }
            }
        }
        table.families.sort_by_key(|f| std::cmp::Reverse(f.pattern.len()));
        Ok(table)
    }

    /// The price for a model id as clients send it; `None` means the model is not offered.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let id = base_model_id(model);
        self.exact.get(id.as_str()).or_else(|| self.families.iter().find(|f| id.starts_with(f.pattern.as_str())))
    }

    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Money> {
        self.lookup(model)?.cost(usage)
    }

    /// Every exact model id, sorted (for model lists).
    pub fn model_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.exact.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

fn parse_rate(text: &str) -> Result<Decimal, String> {
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') || text.starts_with('.') || text.ends_with('.') {
        return Err(format!("{text:?} is not a price"));
    }
    let d = Decimal::from_str(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d.normalize().scale() > 3 {
        return Err(format!("{text}: at most 3 decimal places"));
    }
    Ok(d)
}

/// Lower-cases, drops a `[1m]`-style suffix and a date suffix (`-20250929`, `-2024-08-06`).
pub fn base_model_id(model: &str) -> String {
    let mut id = model.trim().to_ascii_lowercase();
    if let Some(open) = id.find('[') {
        id.truncate(open);
    }
    let bytes = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if bytes.len() > 9 && bytes[bytes.len() - 9] == b'-' && digits(&bytes[bytes.len() - 8..]) {
        id.truncate(id.len() - 9);
    } else if bytes.len() > 11 && {
        let t = &bytes[bytes.len() - 11..];
        t[0] == b'-' && digits(&t[1..5]) && t[5] == b'-' && digits(&t[6..8]) && t[8] == b'-' && digits(&t[9..])
    } {
        id.truncate(id.len() - 11);
    }
    id
}

/// The price table and channel multipliers in force.
#[derive(Clone, Debug)]
pub struct Pricing {
    pub table: PriceTable,
    pub multipliers: ChannelMultipliers,
}

/// What each channel multiplies the official price by when the balance pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelMultipliers {
    by_channel: HashMap<String, Decimal>,
}

pub const DEFAULT_CHANNEL_MULTIPLIERS: &str = "cc-omg=0.2,codex-omg=0.2,web-chat=1.0,default=1.0";

impl ChannelMultipliers {
    /// `channel=multiplier` pairs separated by commas; `default` applies to unlisted channels.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut by_channel = HashMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (channel, value) =
                pair.split_once('=').ok_or_else(|| format!("{pair:?}: expected channel=multiplier"))?;
            let m = parse_rate(value.trim()).map_err(|e| format!("{channel}: {e}"))?;
            by_channel.insert(channel.trim().to_string(), m);
        }
        by_channel.entry("default".to_string()).or_insert(Decimal::ONE);
        Ok(Self { by_channel })
    }

    pub fn for_channel(&self, channel: &str) -> Decimal {
        self.by_channel.get(channel).or_else(|| self.by_channel.get("default")).copied().unwrap_or(Decimal::ONE)
    }

    pub fn all(&self) -> Vec<(String, Decimal)> {
        let mut v: Vec<(String, Decimal)> = self.by_channel.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort();
        v
    }
}

impl Default for ChannelMultipliers {
    fn default() -> Self {
        Self::parse(DEFAULT_CHANNEL_MULTIPLIERS).unwrap_or(Self { by_channel: HashMap::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::shipped().unwrap()
    }

    fn usd(s: &str) -> Money {
        Money::parse_usd(s).unwrap()
    }

    #[test]
    fn the_shipped_table_parses_and_prices_the_seed_models() {
        let t = table();
        let opus41 = t.lookup("claude-opus-4-1").unwrap().base_rates();
        assert_eq!((opus41.input, opus41.output), (Decimal::from(15), Decimal::from(75)));
        // The seed's example: an Opus 4.1 call worth $1.
        let u = Usage { input: 20_000, output: 9_333, ..Usage::default() };
        assert_eq!(t.cost("claude-opus-4-1", &u), Some(usd("0.999975")));
        let u = Usage { input: 1_000_000, ..Usage::default() };
        assert_eq!(t.cost("claude-sonnet-4-5", &u), Some(Money::usd(3)));
        assert_eq!(t.cost("gpt-4o-mini", &Usage { output: 1_000_000, ..Usage::default() }), Some(usd("0.6")));
    }

    #[test]
    fn every_token_kind_has_its_own_price() {
        let u = Usage {
            input: 1_000_000,
            output: 1_000_000,
            cache_write_5m: 1_000_000,
            cache_write_1h: 1_000_000,
            cache_read: 1_000_000,
        };
        // Sonnet 4.5: 3 + 15 + 3.75 + 6 + 0.30.
        assert_eq!(table().cost("claude-sonnet-4-5", &u), Some(usd("28.05")));
        // One cached token of the cheapest model is exactly one unit.
        assert_eq!(
            table().cost("claude-haiku-5-5", &Usage { cache_read: 1, ..Usage::default() }),
            Some(Money::from_units(10))
        );
        assert_eq!(
            table().cost("gpt-5.4-mini", &Usage { cache_read: 1, ..Usage::default() }),
            Some(Money::from_units(75))
        );
    }

    #[test]
    fn long_prompts_switch_the_whole_request_to_the_long_band() {
        let t = table();
        let short = Usage { input: 100_000, output: 1_000, ..Usage::default() };
        let long = Usage { input: 100_001, output: 1_000, ..Usage::default() };
        assert_eq!(t.cost("claude-haiku-5-5", &short), Some(usd("0.0105")));
        assert_eq!(t.cost("claude-haiku-5-5", &long), Some(usd("0.0525005")));
    }

    #[test]
    fn dated_ids_suffixes_and_newer_family_members_are_priced() {
        let t = table();
        assert_eq!(t.lookup("claude-sonnet-4-5-20250929").unwrap().pattern, "claude-sonnet-4-5");
        assert_eq!(t.lookup("claude-opus-4-6[1m]").unwrap().pattern, "claude-opus-4-6");
        assert_eq!(t.lookup("gpt-4o-2024-08-06").unwrap().pattern, "gpt-4o");
        assert_eq!(t.lookup("gpt-4o-mini-2024-07-18").unwrap().pattern, "gpt-4o-mini");
        assert_eq!(t.lookup("Claude-Opus-4-1").unwrap().pattern, "claude-opus-4-1");
        // Claude Code 2.1.328 asks for claude-opus-5-5; the SDK lists models this table has never seen.
        assert!(t.lookup("claude-opus-5-5").is_some());
        assert_eq!(t.lookup("claude-opus-6").unwrap().pattern, "claude-opus-");
        assert_eq!(t.lookup("gpt-6-mini").unwrap().pattern, "gpt-6");
    }

    #[test]
    fn unknown_models_have_no_price() {
        let t = table();
        for m in ["llama-3-70b", "claude", "gpt-3.5-turbo", ""] {
            assert!(t.lookup(m).is_none(), "{m}");
        }
    }

    #[test]
    fn bad_price_tables_are_refused_with_the_line() {
        assert_eq!(PriceTable::parse("m 1 2 3 4").unwrap_err().line, 1);
        assert!(PriceTable::parse("m 1 2 3 4 0.0001").unwrap_err().problem.contains("3 decimal"));
        assert!(PriceTable::parse("m 1 2 3 4 -1").is_err());
        assert!(PriceTable::parse("m 1 2 3 4 NaN").is_err());
        assert!(PriceTable::parse("m 1 2 3 4 5\nm 1 2 3 4 5").unwrap_err().problem.contains("twice"));
        assert!(PriceTable::parse("m* 1 2 3 4 5 >10").is_err());
        assert!(PriceTable::parse("a*b 1 2 3 4 5").is_err());
    }

    #[test]
    fn channel_multipliers_default_to_the_seed_rates() {
        let m = ChannelMultipliers::default();
        assert_eq!(m.for_channel("cc-omg"), Decimal::from_str("0.2").unwrap());
        assert_eq!(m.for_channel("codex-omg"), Decimal::from_str("0.2").unwrap());
        assert_eq!(m.for_channel("default"), Decimal::ONE);
        assert_eq!(m.for_channel("something-new"), Decimal::ONE);
        assert!(ChannelMultipliers::parse("cc-omg=-1").is_err());
        assert!(ChannelMultipliers::parse("cc-omg").is_err());
    }

    #[test]
    fn base_ids_strip_dates_and_context_suffixes_only() {
        assert_eq!(base_model_id("claude-3-5-haiku-20241022"), "claude-3-5-haiku");
        assert_eq!(base_model_id("gpt-5.4-mini"), "gpt-5.4-mini");
        assert_eq!(base_model_id("claude-sonnet-4-5[1m]"), "claude-sonnet-4-5");
        assert_eq!(base_model_id("gpt-4o-2024-08-06"), "gpt-4o");
    }
}
