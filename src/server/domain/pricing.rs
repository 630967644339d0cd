//! Official prices: the operator-editable price table (exact model ids plus family patterns, long-prompt
//! bands, each model's maximum output and context), the official cost of one call's usage, a request's
//! worst case and the limits its metered usage is held to, and the per-channel multipliers.

use super::money::Money;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;

/// The price table shipped with Gatehouse (`config/prices.conf`).
pub const DEFAULT_PRICE_TABLE: &str = include_str!("../../../config/prices.conf");

/// Token counts of one call, as the upstream reported them, and its server-tool uses. `input` excludes
/// cached tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
    /// Searches the upstream's web search tool ran (Anthropic's `server_tool_use.web_search_requests`),
    /// each billed at the price table's `tool:web_search` price.
    pub web_searches: u64,
    /// Images an image model made, each billed at its size's and quality's `image:` price when the model
    /// has such prices (a token-priced image model bills its tokens instead).
    pub images: u64,
}

impl Usage {
    /// The prompt size that picks a long-prompt band.
    pub fn prompt_tokens(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write_5m)
            .saturating_add(self.cache_write_1h)
    }

    /// No token counted and no image made (an answer without usage; server-tool uses alone do not count).
    pub fn is_empty(&self) -> bool {
        Usage { web_searches: 0, ..*self } == Usage::default()
    }

    /// No token counted (images aside): an image answer without token usage.
    pub fn has_no_tokens(&self) -> bool {
        Usage { web_searches: 0, images: 0, ..*self } == Usage::default()
    }

    /// The usage held to what the request allowed: output at most its limit, the prompt (input, cache
    /// writes, cache reads, in that order) at most the model's context. True when anything was cut (an
    /// upstream anomaly: the caller is never billed beyond the request's worst case).
    pub fn clamped(self, limits: UsageLimits) -> (Usage, bool) {
        let mut room = limits.input;
        let mut take = |n: u64| {
            let t = n.min(room);
            room -= t;
            t
        };
        let u = Usage {
            input: take(self.input),
            cache_write_5m: take(self.cache_write_5m),
            cache_write_1h: take(self.cache_write_1h),
            cache_read: take(self.cache_read),
            output: self.output.min(limits.output),
            web_searches: self.web_searches.min(limits.web_searches),
            images: self.images.min(limits.images),
        };
        (u, u != self)
    }
}

/// What one request may use: input tokens (the model's context) and output tokens (its `max_tokens`, or
/// the model's maximum, times the choices it asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageLimits {
    pub input: u64,
    pub output: u64,
    /// Web searches the request allows (its web search tool's `max_uses`; 0 without the tool).
    pub web_searches: u64,
    /// Images the request asked for (an image call's `n`; 0 for everything else).
    pub images: u64,
}

/// Why a request's limits cannot be set (400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("`max_tokens` must be between 1 and {max} for `{model}` (asked: {asked}).")]
    MaxTokens { model: String, asked: u64, max: u64 },
    #[error("`n` must be between 1 and {max} (asked: {asked}).")]
    Choices { asked: u64, max: u64 },
    #[error("{0}")]
    ImageOption(String),
}

/// Choices one request may ask for (OpenAI's `n`).
pub const MAX_CHOICES: u64 = 128;
/// Images one request may ask for (OpenAI's `n` on its images endpoints).
pub const MAX_IMAGES: u64 = 10;
/// A model's maximum output and context when its price table line does not say.
pub const DEFAULT_MAX_OUTPUT: u64 = 128_000;
pub const DEFAULT_CONTEXT: u64 = 1_000_000;
/// The longest model name accepted.
pub const MAX_MODEL_NAME: usize = 128;

/// A model name as callers may send it: 1 to 128 printable ASCII characters, no spaces. Checked before
/// anything prices, routes, logs or stores it.
pub fn check_model_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("`model` is required.".into());
    }
    if name.len() > MAX_MODEL_NAME || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "`model` must be 1 to {MAX_MODEL_NAME} printable ASCII characters without spaces (such as claude-sonnet-4-5)."
        ));
    }
    Ok(())
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

/// What a model is called for, each on its own API surface (`kind=` on its price line): a model of one kind
/// is refused on another kind's surface, so an embedding model priced for input alone never writes text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Conversations: Anthropic Messages, OpenAI chat completions and Responses, web chat.
    #[default]
    Chat,
    /// OpenAI's legacy text completions (`/v1/completions`: `gpt-3.5-turbo-instruct`, `davinci-002`).
    Completion,
    /// Embeddings (`/v1/embeddings`): billed per input token, nothing written.
    Embedding,
    /// Text to speech (`/v1/audio/speech`): billed per character of the text read out (the line's input
    /// price is USD per million characters), whatever audio comes back; or, on a line with `billed=tokens`
    /// (gpt-4o-mini-tts), per text input token and audio output token.
    Speech,
    /// Images (`/v1/images/generations` and `/edits`): billed per image by size and quality (`image:`
    /// lines), or per token (text input, image output, image input, cached image input, cached text input
    /// in the line's five columns) for a model without `image:` lines.
    Image,
}

impl ModelKind {
    pub const ALL: [ModelKind; 5] = [Self::Chat, Self::Completion, Self::Embedding, Self::Speech, Self::Image];

    /// The name on a price line (`kind=embedding`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completion => "completion",
            Self::Embedding => "embedding",
            Self::Speech => "speech",
            Self::Image => "image",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The path a model of this kind is called on (for refusals that point there).
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/messages, /v1/chat/completions or /v1/responses",
            Self::Completion => "/v1/completions",
            Self::Embedding => "/v1/embeddings",
            Self::Speech => "/v1/audio/speech",
            Self::Image => "/v1/images/generations or /v1/images/edits",
        }
    }
}

/// Audio tokens a second of speech makes (gpt-4o-mini-tts: about $0.015 a minute at $12 per million), for
/// counting audio heard before the upstream's report and for showing a price per minute.
pub const AUDIO_TOKENS_PER_SECOND: u64 = 21;

/// What a model's price counts: tokens, characters read out (speech), or images made (an image model
/// with `image:` lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Tokens,
    Characters,
    Images,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::Characters => "characters",
            Self::Images => "images",
        }
    }
}

/// A model called on another kind's surface (400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{model}` is {}; call it on {}. You were not charged.", article(*.is), .is.path())]
pub struct WrongSurface {
    pub model: String,
    pub is: ModelKind,
}

fn article(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => "a chat model",
        ModelKind::Completion => "a legacy completions model",
        ModelKind::Embedding => "an embedding model",
        ModelKind::Speech => "a text-to-speech model",
        ModelKind::Image => "an image model",
    }
}

/// The prices of one model (or family): bands ordered by threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPrice {
    pub pattern: String,
    bands: Vec<Band>,
    /// The most output tokens one answer can have (`max_output=`), and the model's context (`context=`).
    pub max_output: u64,
    pub context: u64,
    /// What the model is called for (`kind=`; chat when unset).
    pub kind: ModelKind,
    /// An image model's price per image by size and quality (`image:` lines); empty: priced per token.
    images: Vec<ImagePrice>,
    /// A speech model billed per token (`billed=tokens`: text in, audio out) instead of per character.
    speech_by_tokens: bool,
}

/// One size and quality of an image model, and its USD price per image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePrice {
    pub size: String,
    pub quality: String,
    pub usd: Decimal,
}

/// The size an image request gets when it names none (or `auto`), on a model priced per image.
pub const DEFAULT_IMAGE_SIZE: &str = "1024x1024";
/// The quality an image request gets when it names none (or `auto`), on a model priced per image.
pub const DEFAULT_IMAGE_QUALITY: &str = "standard";

impl ModelPrice {
    /// Refuses a call of this model on a surface for another kind of model.
    pub fn check_kind(&self, model: &str, surface: ModelKind) -> Result<(), WrongSurface> {
        match self.kind == surface {
            true => Ok(()),
            false => Err(WrongSurface { model: model.to_string(), is: self.kind }),
        }
    }

    /// What the model's price counts.
    pub fn unit(&self) -> Unit {
        match self.kind {
            ModelKind::Image if !self.images.is_empty() => Unit::Images,
            ModelKind::Speech if !self.speech_by_tokens => Unit::Characters,
            _ => Unit::Tokens,
        }
    }

    /// Whether the model is billed for output tokens: an embedding writes none, speech billed per character
    /// is billed for what it reads; speech billed per token is billed its audio tokens, an image model its
    /// image tokens.
    pub fn writes(&self) -> bool {
        match self.kind {
            ModelKind::Chat | ModelKind::Completion | ModelKind::Image => true,
            ModelKind::Speech => self.speech_by_tokens,
            ModelKind::Embedding => false,
        }
    }

    /// An image model's prices per image (size, quality, USD), as the table gives them; empty for a model
    /// priced per token.
    pub fn image_prices(&self) -> &[ImagePrice] {
        &self.images
    }

    /// The price of one image of `size` and `quality` (absent or `auto`: [`DEFAULT_IMAGE_SIZE`] and
    /// [`DEFAULT_IMAGE_QUALITY`]): `Ok(None)` for a model priced per token, an error naming what is offered
    /// when the model has no price for that size and quality (refused, never free).
    pub fn image_price(
        &self,
        model: &str,
        size: Option<&str>,
        quality: Option<&str>,
    ) -> Result<Option<Decimal>, LimitError> {
        if self.images.is_empty() {
            return Ok(None);
        }
        let pick = |asked: Option<&str>, default: &'static str| match asked.map(str::trim) {
            None | Some("") | Some("auto") => default.to_string(),
            Some(a) => a.to_ascii_lowercase(),
        };
        let (size, quality) = (pick(size, DEFAULT_IMAGE_SIZE), pick(quality, DEFAULT_IMAGE_QUALITY));
        if let Some(p) = self.images.iter().find(|p| p.size == size && p.quality == quality) {
            return Ok(Some(p.usd));
        }
        let offered: Vec<String> = self.images.iter().map(|p| format!("{} {}", p.size, p.quality)).collect();
        Err(LimitError::ImageOption(format!(
            "`{model}` makes images of {} (size and quality); {size} {quality} has no price here. You were not charged.",
            offered.join(", ")
        )))
    }

    /// The limits of a request that asked for `max_tokens` (or nothing: the model's maximum) and `n`
    /// choices.
    pub fn limits(&self, model: &str, max_tokens: Option<u64>, n: Option<u64>) -> Result<UsageLimits, LimitError> {
        if !self.writes() {
            // An embedding (or speech read per character) writes no tokens: its worst case is its input alone.
            return Ok(UsageLimits { input: self.context, output: 0, web_searches: 0, images: 0 });
        }
        let per_choice = max_tokens.unwrap_or(self.max_output);
        if per_choice == 0 || per_choice > self.max_output {
            return Err(LimitError::MaxTokens { model: model.to_string(), asked: per_choice, max: self.max_output });
        }
        let n = n.unwrap_or(1);
        let most = if self.kind == ModelKind::Image { MAX_IMAGES } else { MAX_CHOICES };
        if n == 0 || n > most {
            return Err(LimitError::Choices { asked: n, max: most });
        }
        // An image call's `n` is the images it may make (each billed by its `image:` price, if any).
        let images = if self.kind == ModelKind::Image { n } else { 0 };
        Ok(UsageLimits { input: self.context, output: per_choice.saturating_mul(n), web_searches: 0, images })
    }

    /// The most a request can cost: every output token it allows, and as input every token its body could
    /// hold (at least a byte a token) up to the context, at the dearest way of reading it (plain input, or
    /// written to the 5-minute or 1-hour cache). `None` when that does not fit in an amount.
    pub fn worst_case(&self, limits: UsageLimits, request_bytes: usize) -> Option<Money> {
        let tokens = u64::try_from(request_bytes).unwrap_or(u64::MAX).min(limits.input);
        let output = limits.output;
        [
            Usage { input: tokens, output, ..Usage::default() },
            Usage { cache_write_5m: tokens, output, ..Usage::default() },
            Usage { cache_write_1h: tokens, output, ..Usage::default() },
        ]
        .iter()
        .map(|u| self.cost(u))
        .try_fold(Money::ZERO, |most, cost| cost.map(|c| most.max(c)))
    }

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

    /// The long-prompt bands, for display: (prompt larger than this many tokens, rates).
    pub fn long_prompt_bands(&self) -> Vec<(u64, Rates)> {
        self.bands.iter().skip(1).map(|b| (b.above, b.rates)).collect()
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
    /// USD per use of an upstream's server tool (`tool:web_search 0.01`).
    tools: HashMap<String, Decimal>,
}

/// The server tool whose uses [`Usage::web_searches`] counts.
pub const WEB_SEARCH: &str = "web_search";

impl PriceTable {
    pub fn shipped() -> Result<Self, PriceTableError> {
        Self::parse(DEFAULT_PRICE_TABLE)
    }

    pub fn parse(text: &str) -> Result<Self, PriceTableError> {
        let mut by_pattern: Vec<ModelPrice> = Vec::new();
        // Each base line's number, for problems found once the whole table is read.
        let mut base_lines: HashMap<String, usize> = HashMap::new();
        let mut image_lines: Vec<(usize, String, ImagePrice)> = Vec::new();
        let mut tools = HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |problem: String| PriceTableError { line: n + 1, problem };
            if let Some(tool) = line.strip_prefix("tool:") {
                let (name, price) = tool
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| err("expected tool:NAME and its USD price per use".into()))?;
                let price = parse_tool_price(price.trim()).map_err(err)?;
                if tools.insert(name.to_ascii_lowercase(), price).is_some() {
                    return Err(err(format!("tool:{name} is priced twice")));
                }
                continue;
            }
            if let Some(image) = line.strip_prefix("image:") {
                let [model, size, quality, price] = image.split_whitespace().collect::<Vec<_>>()[..] else {
                    return Err(err("expected image:MODEL SIZE QUALITY and its USD price per image".into()));
                };
                let usd = parse_tool_price(price).map_err(err)?;
                if usd.is_zero() {
                    return Err(err(format!("image:{model} {size} {quality}: an image is never free")));
                }
                let (size, quality) = (size.to_ascii_lowercase(), quality.to_ascii_lowercase());
                image_lines.push((n + 1, model.to_ascii_lowercase(), ImagePrice { size, quality, usd }));
                continue;
            }
            let (named, cols): (Vec<&str>, Vec<&str>) = line.split_whitespace().partition(|c| c.contains('='));
            if cols.len() != 6 && cols.len() != 7 {
                return Err(err(format!("expected 6 or 7 columns, found {}", cols.len())));
            }
            let mut limits = (None, None);
            let mut kind = None;
            let mut billed = None;
            for field in named {
                let (name, value) = field.split_once('=').unwrap_or((field, ""));
                if name == "kind" {
                    kind = Some(ModelKind::parse(value).ok_or_else(|| {
                        err(format!("kind={value}: expected kind=chat, completion, embedding, speech or image"))
                    })?);
                    continue;
                }
                if name == "billed" {
                    billed = Some(match value {
                        "tokens" => Unit::Tokens,
                        "characters" => Unit::Characters,
                        _ => return Err(err(format!("billed={value}: expected billed=characters or billed=tokens"))),
                    });
                    continue;
                }
                let tokens = value
                    .parse::<u64>()
                    .ok()
                    .filter(|t| *t > 0)
                    .ok_or_else(|| err(format!("{name}: {value:?} is not a token count")))?;
                match name {
                    "max_output" => limits.0 = Some(tokens),
                    "context" => limits.1 = Some(tokens),
                    _ => return Err(err(format!("unknown field {name}= (max_output=, context=, kind=, billed=)"))),
                }
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
            if above != 0 && (limits != (None, None) || kind.is_some() || billed.is_some()) {
                return Err(err("give max_output=, context=, kind= and billed= on the base price line".into()));
            }
            if billed.is_some() && kind != Some(ModelKind::Speech) {
                return Err(err("billed= is for kind=speech models (billed per character or per token)".into()));
            }
            let speech_by_tokens = billed == Some(Unit::Tokens);
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
                    base_lines.insert(pattern.clone(), n + 1);
                    by_pattern.push(ModelPrice {
                        pattern,
                        bands: vec![Band { above, rates }],
                        max_output: limits.0.unwrap_or(DEFAULT_MAX_OUTPUT),
                        context: limits.1.unwrap_or(DEFAULT_CONTEXT),
                        kind: kind.unwrap_or_default(),
                        images: Vec::new(),
                        speech_by_tokens,
                    });
                }
            }
        }
        for (line, model, image) in image_lines {
            let err = |problem: String| PriceTableError { line, problem };
            let Some(price) = by_pattern.iter_mut().find(|p| p.pattern == model && p.kind == ModelKind::Image) else {
                return Err(err(format!("image:{model}: the table has no {model} line with kind=image")));
            };
            // Priced per image or per token, never both (a call would pay twice).
            let r = price.bands[0].rates;
            if [r.input, r.output, r.cache_write_5m, r.cache_write_1h, r.cache_read].iter().any(|d| !d.is_zero()) {
                return Err(err(format!(
                    "image:{model}: a model priced per image has 0 in its token columns (it is priced per token otherwise)"
                )));
            }
            if price.images.iter().any(|p| p.size == image.size && p.quality == image.quality) {
                return Err(err(format!("image:{model} {} {} is priced twice", image.size, image.quality)));
            }
            price.images.push(image);
        }
        // An image model is priced per image or per output token: one with neither would make images free.
        if let Some(free) = by_pattern
            .iter()
            .find(|p| p.kind == ModelKind::Image && p.images.is_empty() && p.bands[0].rates.output.is_zero())
        {
            return Err(PriceTableError {
                line: base_lines.get(&free.pattern).copied().unwrap_or(0),
                problem: format!(
                    "{}: an image model needs image: prices (per image by size and quality) or an output token price",
                    free.pattern
                ),
            });
        }
        // Speech billed per token pays for its audio in the output column, in every band.
        if let Some(free) =
            by_pattern.iter().find(|p| p.speech_by_tokens && p.bands.iter().any(|b| b.rates.output.is_zero()))
        {
            return Err(PriceTableError {
                line: base_lines.get(&free.pattern).copied().unwrap_or(0),
                problem: format!(
                    "{}: a speech model billed per token needs an output (audio) token price in every band",
                    free.pattern
                ),
            });
        }
        let mut table = PriceTable { tools, ..PriceTable::default() };
        for price in by_pattern {
            match price.pattern.strip_suffix('*') {
                Some(prefix) => table.families.push(ModelPrice { pattern: prefix.to_string(), ..price }),
                None => {
                    table.exact.insert(price.pattern.clone(), price);
                }
            }
        }
        table.families.sort_by_key(|f| std::cmp::Reverse(f.pattern.len()));
        Ok(table)
    }

    /// The price for a model id as clients send it; `None` means the model is not offered. A family
    /// pattern prices newer versions and tiers of its text models (`gpt-6-mini`, `claude-opus-6`), never a
    /// variant for another modality (`gpt-4o-audio-preview`, `gpt-4o-realtime`, `…-transcribe`, `…-tts`,
    /// `…-search-preview`, `…-image`): those are billed differently and are refused unless they have their
    /// own line.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let id = base_model_id(model);
        self.exact.get(id.as_str()).or_else(|| {
            self.families
                .iter()
                .find(|f| id.strip_prefix(f.pattern.as_str()).is_some_and(|rest| !names_other_modality(rest)))
        })
    }

    /// The official cost of a call without images (see [`PriceTable::call_cost`]).
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Money> {
        self.call_cost(model, usage, None)
    }

    /// The official cost of a call: its tokens at the model's prices, its server-tool uses at theirs, and
    /// its images at `per_image` (the price of the size and quality it asked for, on a model priced per
    /// image). `None` when any of them has no price: a call is never billed at zero.
    pub fn call_cost(&self, model: &str, usage: &Usage, per_image: Option<Decimal>) -> Option<Money> {
        let price = self.lookup(model)?;
        let mut total = price.cost(usage)?;
        if usage.web_searches > 0 {
            total = total.checked_add(self.web_search_fees(usage.web_searches)?)?;
        }
        if usage.images > 0 && !price.images.is_empty() {
            total = total.checked_add(image_fees(usage.images, per_image?)?)?;
        }
        Some(total)
    }

    /// What `searches` web searches cost at most (`None`: web search has no price here).
    pub fn web_search_fees(&self, searches: u64) -> Option<Money> {
        if searches == 0 {
            return Some(Money::ZERO);
        }
        Money::round_from(Decimal::from(searches).checked_mul(*self.tools.get(WEB_SEARCH)?)?)
    }

    /// The price of one use of a server tool, if it has one.
    pub fn tool_price(&self, tool: &str) -> Option<Decimal> {
        self.tools.get(tool).copied()
    }

    /// Every exact model id, sorted (for model lists).
    pub fn model_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.exact.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

/// What `images` images cost at `per_image` USD each.
pub fn image_fees(images: u64, per_image: Decimal) -> Option<Money> {
    Money::round_from(Decimal::from(images).checked_mul(per_image)?)
}

/// A server tool's USD price per use: at most 6 decimal places.
fn parse_tool_price(text: &str) -> Result<Decimal, String> {
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') || text.is_empty() {
        return Err(format!("{text:?} is not a price per use"));
    }
    let d = Decimal::from_str(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d.normalize().scale() > 6 {
        return Err(format!("{text}: at most 6 decimal places"));
    }
    Ok(d)
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

/// Words that mark a model variant for another modality, priced differently from the family's text model.
const OTHER_MODALITIES: &[&str] =
    &["audio", "realtime", "transcribe", "tts", "speech", "voice", "search", "image", "vision", "video", "embed"];

fn names_other_modality(rest: &str) -> bool {
    rest.split(['-', '.', '_']).any(|word| OTHER_MODALITIES.iter().any(|m| word.starts_with(m)))
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

/// The plain API's channel (`/v1/...`): the one channel that serves every kind of model.
pub const PLAIN_CHANNEL: &str = "default";

/// The price table, channel multipliers and the models each channel serves, in force.
#[derive(Clone, Debug)]
pub struct Pricing {
    pub table: PriceTable,
    pub multipliers: ChannelMultipliers,
    pub channels: super::channels::ChannelModels,
    /// The text `table` was read from (shown in the admin console's editor).
    pub table_text: String,
}

impl Pricing {
    /// Whether `channel` serves `model`: the channel's model patterns allow it, and it is a chat model
    /// unless the channel is the plain API's (the named channels are for their tools, web chat converses:
    /// neither embeds, completes legacy text or reads text out).
    pub fn serves(&self, channel: &str, model: &str) -> bool {
        self.table.lookup(model).is_some_and(|p| self.serves_as(channel, model, p.kind))
    }

    /// [`Pricing::serves`] for a model already looked up (admission has its price: no second lookup).
    pub fn serves_as(&self, channel: &str, model: &str, kind: ModelKind) -> bool {
        self.channels.serves(channel, model) && (channel == PLAIN_CHANNEL || kind == ModelKind::Chat)
    }
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

    /// The `channel=multiplier` text that [`ChannelMultipliers::parse`] reads back to the same multipliers.
    pub fn to_text(&self) -> String {
        self.all().into_iter().map(|(c, m)| format!("{c}={}", m.normalize())).collect::<Vec<_>>().join(",")
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
        let u = Usage { input: 200_000, ..Usage::default() };
        assert_eq!(t.cost("claude-sonnet-4-5", &u), Some(usd("0.6")));
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
            web_searches: 0,
            images: 0,
        };
        // Sonnet 4.6: 3 + 15 + 3.75 + 6 + 0.30 (Sonnet 4.5 would be in its long-context band here).
        assert_eq!(table().cost("claude-sonnet-4-6", &u), Some(usd("28.05")));
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
    fn sonnet_4_5_prompts_beyond_200k_are_priced_at_the_long_context_rates() {
        // Claude Code's 1M-context beta (`claude-sonnet-4-5[1m]`): $6 / $22.50 per million above 200,000.
        let t = table();
        let at = Usage { input: 200_000, output: 1_000, ..Usage::default() };
        let over = Usage { input: 150_000, cache_read: 100_000, output: 1_000, ..Usage::default() };
        assert_eq!(t.cost("claude-sonnet-4-5[1m]", &at), Some(usd("0.615")));
        assert_eq!(t.cost("claude-sonnet-4-5-20250929", &over), Some(usd("0.9825")));
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
    fn web_searches_are_billed_at_the_tools_price_per_use() {
        let t = table();
        let plain = Usage { input: 1_000, output: 100, ..Usage::default() };
        let searched = Usage { web_searches: 3, ..plain };
        let tokens = t.cost("claude-sonnet-4-5", &plain).unwrap();
        assert_eq!(t.cost("claude-sonnet-4-5", &searched), tokens.checked_add(usd("0.03")), "$10 per 1,000 searches");
        let unpriced = PriceTable::parse("claude-x 1 2 3 4 0.1\n").unwrap();
        assert_eq!(unpriced.cost("claude-x", &searched), None, "a search without a price is never free");
        assert!(PriceTable::parse("tool:web_search 0.0000001\n").is_err());
        assert!(PriceTable::parse("tool:web_search\n").is_err());
        assert!(PriceTable::parse("tool:web_search 0.01\ntool:web_search 0.02\n").is_err());
    }

    #[test]
    fn families_do_not_price_variants_for_other_modalities() {
        let t = table();
        for m in [
            "gpt-4o-audio-preview",
            "gpt-4o-realtime-preview-2024-12-17",
            "gpt-4o-mini-transcribe",
            "gpt-6-mini-tts",
            "gpt-4o-search-preview",
            "gpt-5-image",
            "gpt-6-realtime",
            "claude-opus-6-vision",
        ] {
            assert!(t.lookup(m).is_none(), "{m} was priced as text");
        }
        assert!(t.lookup("gpt-5.2-codex").is_some() && t.lookup("gpt-6-nano").is_some());
        let own = PriceTable::parse("gpt-4o* 2.5 10 2.5 2.5 1.25\ngpt-4o-audio-preview 40 80 40 40 2.5\n").unwrap();
        assert_eq!(
            own.lookup("gpt-4o-audio-preview").unwrap().pattern,
            "gpt-4o-audio-preview",
            "priced by its own line"
        );
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
    fn requests_are_limited_by_max_tokens_times_choices_or_the_models_maximum() {
        let t = table();
        let opus = t.lookup("claude-opus-4-1").unwrap();
        assert_eq!((opus.max_output, opus.context), (32_000, 200_000));
        assert_eq!(
            opus.limits("m", None, None).unwrap(),
            UsageLimits { input: 200_000, output: 32_000, web_searches: 0, images: 0 }
        );
        let gpt = t.lookup("gpt-4o").unwrap();
        assert_eq!(gpt.limits("m", Some(100), Some(8)).unwrap().output, 800);
        assert_eq!(gpt.limits("m", None, Some(8)).unwrap().output, 8 * gpt.max_output);
        for bad in [Some(0), Some(u64::MAX), Some(1_000_000_000_000_000)] {
            assert!(matches!(gpt.limits("m", bad, None), Err(LimitError::MaxTokens { .. })), "{bad:?}");
        }
        assert!(matches!(gpt.limits("m", None, Some(0)), Err(LimitError::Choices { .. })));
        assert!(matches!(gpt.limits("m", None, Some(129)), Err(LimitError::Choices { .. })));
        // The worst case: every output token allowed, and a token per byte of the body up to the context,
        // written to the 1-hour cache (Opus 4.1: $30 a million, dearer than $15 of plain input).
        let limits = opus.limits("m", Some(32_000), None).unwrap();
        assert_eq!(opus.worst_case(limits, 1_000), Some(usd("2.43")));
    }

    #[test]
    fn metered_usage_is_held_to_what_the_request_allowed() {
        let limits = UsageLimits { input: 1_000, output: 50, web_searches: 0, images: 0 };
        let fine = Usage { input: 600, output: 50, cache_read: 400, ..Usage::default() };
        assert_eq!(fine.clamped(limits), (fine, false));
        let wild = Usage { input: u64::MAX, output: u64::MAX, cache_read: 5, ..Usage::default() };
        assert_eq!(wild.clamped(limits), (Usage { input: 1_000, output: 50, ..Usage::default() }, true));
        assert!(Usage::default().is_empty() && !fine.is_empty());
    }

    #[test]
    fn model_names_are_printable_ascii_of_at_most_128_bytes() {
        assert!(check_model_name("claude-sonnet-4-5-20250929").is_ok());
        assert!(check_model_name("claude-opus-4-6[1m]").is_ok());
        for bad in ["", "gpt-5\u{0}x", "gpt-5\nx", "gpt 5", "gpt-5é"] {
            assert!(check_model_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_model_name(&"a".repeat(128)).is_ok());
        assert!(check_model_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn price_lines_may_give_a_models_maximum_output_and_context() {
        let t = PriceTable::parse("m 1 2 3 4 5 max_output=100 context=1000\nf* 1 2 3 4 5").unwrap();
        let m = t.lookup("m").unwrap();
        assert_eq!((m.max_output, m.context), (100, 1_000));
        let f = t.lookup("f-1").unwrap();
        assert_eq!((f.max_output, f.context), (DEFAULT_MAX_OUTPUT, DEFAULT_CONTEXT));
        assert!(PriceTable::parse("m 1 2 3 4 5 max_output=0").is_err());
        assert!(PriceTable::parse("m 1 2 3 4 5 speed=3").is_err());
        assert!(PriceTable::parse("m 1 2 3 4 5\nm 1 2 3 4 5 >10 context=5").is_err());
    }

    #[test]
    fn base_ids_strip_dates_and_context_suffixes_only() {
        assert_eq!(base_model_id("claude-3-5-haiku-20241022"), "claude-3-5-haiku");
        assert_eq!(base_model_id("gpt-5.4-mini"), "gpt-5.4-mini");
        assert_eq!(base_model_id("claude-sonnet-4-5[1m]"), "claude-sonnet-4-5");
        assert_eq!(base_model_id("gpt-4o-2024-08-06"), "gpt-4o");
    }

    #[test]
    fn a_model_has_one_kind_and_is_refused_on_another_kinds_endpoint() {
        let t = table();
        let embedding = t.lookup("text-embedding-3-small").unwrap();
        assert_eq!(embedding.kind, ModelKind::Embedding);
        assert_eq!(t.lookup("gpt-3.5-turbo-instruct").unwrap().kind, ModelKind::Completion);
        assert_eq!(t.lookup("claude-sonnet-4-5").unwrap().kind, ModelKind::Chat);
        assert!(embedding.check_kind("text-embedding-3-small", ModelKind::Embedding).is_ok());
        let wrong = embedding.check_kind("text-embedding-3-small", ModelKind::Chat).unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "`text-embedding-3-small` is an embedding model; call it on /v1/embeddings. You were not charged."
        );
        // Dated ids of an embedding model are not priced by a chat family.
        assert!(t.lookup("gpt-4o-embedding").is_none());
    }

    #[test]
    fn an_embedding_holds_its_input_alone_whatever_max_tokens_says() {
        let t = table();
        let p = t.lookup("text-embedding-3-large").unwrap();
        let limits = p.limits("text-embedding-3-large", Some(999_999_999), Some(5)).unwrap();
        assert_eq!((limits.input, limits.output), (300_000, 0));
        // 1000 bytes: at most 1000 tokens of input at $0.13 per million.
        assert_eq!(p.worst_case(limits, 1000), Some(usd("0.00013")));
        // Reported output is cut to nothing.
        let (u, cut) = Usage { input: 10, output: 50, ..Usage::default() }.clamped(limits);
        assert_eq!((u.output, cut), (0, true));
    }

    #[test]
    fn kind_is_read_on_the_base_line_only_and_must_be_known() {
        let t = PriceTable::parse("e 0.1 0 0 0 0 kind=embedding\nc 1 2 1 1 1 kind=completion max_output=10").unwrap();
        assert_eq!(
            (t.lookup("e").unwrap().kind, t.lookup("c").unwrap().kind),
            (ModelKind::Embedding, ModelKind::Completion)
        );
        assert_eq!(t.lookup("c").unwrap().max_output, 10);
        let err = PriceTable::parse("e 0.1 0 0 0 0 kind=vector").unwrap_err();
        assert!(err.problem.contains("chat, completion, embedding, speech or image"), "{err}");
        let err = PriceTable::parse("m 1 2 1 1 1\nm 2 4 2 2 2 >100 kind=chat").unwrap_err();
        assert!(err.problem.contains("base price line"), "{err}");
        for k in ModelKind::ALL {
            assert_eq!(ModelKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn speech_is_billed_per_character_or_per_token_as_its_line_says() {
        let t = table();
        let tts = t.lookup("tts-1").unwrap();
        assert_eq!((tts.unit(), tts.writes()), (Unit::Characters, false));
        assert_eq!(tts.limits("tts-1", None, None).unwrap().output, 0, "it reads, it writes no tokens");
        // gpt-4o-mini-tts: text in at $0.60, audio out at $12 per million tokens; its dated id too.
        let mini = t.lookup("gpt-4o-mini-tts-2025-12-15").unwrap();
        assert_eq!((mini.kind, mini.unit(), mini.writes()), (ModelKind::Speech, Unit::Tokens, true));
        let limits = mini.limits("gpt-4o-mini-tts", None, None).unwrap();
        assert_eq!((limits.input, limits.output), (mini.context, mini.max_output));
        let spoken = Usage { input: 20, output: 1_250, ..Usage::default() };
        assert_eq!(t.cost("gpt-4o-mini-tts", &spoken), Some(usd("0.015012")), "a minute of audio");
        // The worst case holds every audio token the model may make: 100 bytes of text (at most 100 tokens)
        // at $0.60 and 12,500 audio tokens at $12 per million.
        assert_eq!(mini.worst_case(limits, 100), Some(usd("0.15006")));
        let err = |text: &str| PriceTable::parse(text).unwrap_err().problem;
        assert!(err("s 1 0 1 1 1 kind=speech billed=tokens").contains("output (audio) token price"));
        assert!(err("s 1 2 1 1 1 kind=speech billed=tokens\ns 1 0 1 1 1 >1000").contains("in every band"));
        assert!(err("m 1 2 1 1 1 billed=tokens").contains("kind=speech"));
        assert!(err("s 1 2 1 1 1 kind=speech billed=seconds").contains("billed=characters or billed=tokens"));
        let chars = PriceTable::parse("s 15 0 15 15 15 kind=speech billed=characters").unwrap();
        assert_eq!(chars.lookup("s").unwrap().unit(), Unit::Characters);
        assert_eq!(t.lookup("dall-e-3").unwrap().unit(), Unit::Images);
        assert_eq!(t.lookup("gpt-image-1").unwrap().unit(), Unit::Tokens);
    }

    #[test]
    fn image_models_are_priced_per_image_by_size_and_quality_or_per_token() {
        let t = table();
        let dalle = t.lookup("dall-e-3").unwrap();
        assert_eq!(dalle.kind, ModelKind::Image);
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(dalle.image_price("dall-e-3", None, None).unwrap(), Some(d("0.04")), "1024x1024 standard");
        assert_eq!(dalle.image_price("dall-e-3", Some("auto"), Some("auto")).unwrap(), Some(d("0.04")));
        assert_eq!(dalle.image_price("dall-e-3", Some("1792x1024"), Some("HD")).unwrap(), Some(d("0.12")));
        let refused = dalle.image_price("dall-e-3", Some("256x256"), None).unwrap_err().to_string();
        assert!(refused.contains("256x256 standard has no price") && refused.contains("1024x1792 hd"), "{refused}");
        // Two hd images at $0.08, whatever tokens an upstream reports for a model priced per image.
        let made = Usage { images: 2, ..Usage::default() };
        assert_eq!(t.call_cost("dall-e-3", &made, Some(d("0.08"))), Some(usd("0.16")));
        assert_eq!(t.call_cost("dall-e-3", &made, None), None, "an image without its price is never free");
        // gpt-image-1 is priced per token: text in $5, image out $40, image in $10 (the third column).
        let gpt_image = t.lookup("gpt-image-1").unwrap();
        assert_eq!(gpt_image.image_price("gpt-image-1", Some("1536x1024"), Some("high")).unwrap(), None);
        let edit = Usage { input: 100, output: 4_160, cache_write_5m: 1_000, images: 1, ..Usage::default() };
        assert_eq!(t.call_cost("gpt-image-1", &edit, None), Some(usd("0.1769")));
        // `n` is the images asked for, at most 10; the worst case holds every output token of each.
        let limits = gpt_image.limits("gpt-image-1", None, Some(3)).unwrap();
        assert_eq!((limits.images, limits.output), (3, 3 * gpt_image.max_output));
        assert!(matches!(gpt_image.limits("gpt-image-1", None, Some(11)), Err(LimitError::Choices { max: 10, .. })));
        let (u, cut) = Usage { images: 5, ..Usage::default() }.clamped(limits);
        assert_eq!((u.images, cut), (3, true));
        assert!(!made.is_empty() && made.has_no_tokens());
    }

    #[test]
    fn image_price_lines_must_name_an_image_model_and_never_make_images_free() {
        let ok = PriceTable::parse("img 0 0 0 0 0 kind=image\nimage:img 512x512 standard 0.018\n").unwrap();
        assert_eq!(ok.lookup("img").unwrap().image_prices().len(), 1);
        let err = |text: &str| PriceTable::parse(text).unwrap_err();
        assert_eq!(err("img 0 0 0 0 0 kind=image\n").line, 1, "neither per image nor per token");
        assert!(err("m 1 2 3 4 5\nimage:m 1024x1024 standard 0.04").problem.contains("kind=image"));
        assert!(err("tok 5 40 10 2.5 1.25 kind=image\nimage:tok 1x1 hd 0.1")
            .problem
            .contains("0 in its token columns"));
        assert!(err("image:nobody 1024x1024 standard 0.04").problem.contains("kind=image"));
        assert_eq!(err("img 0 0 0 0 0 kind=image\nimage:img 1x1 standard 0").line, 2);
        assert!(err("img 0 0 0 0 0 kind=image\nimage:img 1x1 hd").problem.contains("image:MODEL SIZE QUALITY"));
        let twice = "img 0 0 0 0 0 kind=image\nimage:img 1x1 hd 0.1\nimage:img 1x1 HD 0.2";
        assert!(err(twice).problem.contains("twice"));
        // A token-priced image model needs no image: lines.
        assert!(PriceTable::parse("tok 5 40 10 2.5 1.25 kind=image").is_ok());
    }
}
