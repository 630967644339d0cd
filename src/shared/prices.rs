//! What the public prices page shows: prices arrive formatted by the server.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricesView {
    pub channels: Vec<ChannelPrice>,
    pub models: Vec<ModelPriceRow>,
}

/// A channel: what it multiplies the official price by when the balance pays, and what it serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPrice {
    pub label: String,
    pub multiplier: String,
    /// `claude-*`; `None`: every model in the table.
    pub serves: Option<String>,
}

/// One model's official prices (USD per million tokens) and what each channel serving it charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPriceRow {
    pub id: String,
    pub provider: String,
    pub input: String,
    pub output: String,
    pub cache_write_5m: String,
    pub cache_write_1h: String,
    pub cache_read: String,
    /// `Prompts over 200,000 tokens: $6 / $22.50`.
    pub long_prompt: Option<String>,
    /// What the token columns do not say of a model: an image model's price per image by size and quality,
    /// or its image input tokens' price; the price of a minute of audio from speech billed per token.
    pub unit_note: Option<String>,
    /// (channel's short name, input, output) the balance pays per million tokens there.
    pub balance_pays: Vec<(String, String, String)>,
}
