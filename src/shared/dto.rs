//! Plain data the server sends to the pages.

use serde::{Deserialize, Serialize};

/// Who is looking at the page, and in which mode the server runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Option<SignedInUser>,
    /// Dev mode: emails go to the dev mailbox; the UI says so.
    pub dev_mode: bool,
    /// `SUPPORT_EMAIL`: where people write for help.
    pub support_email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub email: String,
    /// Holds the operator role: the header links to the admin console.
    pub operator: bool,
    /// RFC 3339-like UTC text, formatted on the server.
    pub member_since: String,
}

/// What the confirm page knows about a login link, without consuming it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginLinkView {
    Valid {
        email: String,
        expires_in_minutes: i64,
    },
    Expired,
    Used,
    Replaced,
    Unknown,
    /// The account was disabled by the operators.
    AccountDisabled,
}

impl LoginLinkView {
    /// The sentence shown when a link cannot log anyone in, in `locale`.
    pub fn refusal(&self, locale: crate::i18n::Locale) -> &'static str {
        use crate::i18n::td_string;
        match self {
            Self::Expired => td_string!(locale, confirm.expired),
            Self::Used => td_string!(locale, confirm.used),
            Self::Replaced => td_string!(locale, confirm.replaced),
            Self::AccountDisabled => td_string!(locale, confirm.account_disabled),
            Self::Unknown | Self::Valid { .. } => td_string!(locale, confirm.not_valid),
        }
    }
}

/// One message in the dev mailbox list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevMailSummary {
    pub id: u64,
    pub to: String,
    pub subject: String,
    pub sent_at: String,
    pub text_body: String,
}

/// One signed-in browser of the account, for the sessions page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Names the session for "Sign out" (the start of its stored hash; never the cookie).
    pub handle: String,
    pub browser: String,
    pub address: String,
    pub created: String,
    pub last_seen: String,
    /// The browser looking at the page.
    pub current: bool,
}

/// One API key as its owner sees it (never the secret, except once at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub used_times: i64,
    pub spent: Usd,
    pub cap: String,
    pub expires: String,
    pub models: String,
    pub disabled: bool,
    /// May manage keys through the key-management API.
    pub can_manage: bool,
}

/// A key just created: the secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeyShown {
    pub name: String,
    pub secret: String,
}

/// What the Docs page fills into its examples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocsView {
    pub base_url: String,
    /// The viewer's keys as (name, prefix); empty when signed out or without keys.
    pub keys: Vec<(String, String)>,
    pub signed_in: bool,
    /// The built-in mock upstream answers (no real model is called).
    pub mock_upstream: bool,
    /// What the balance pays, times the official price, on the Claude Code, CodeX and standard channels.
    pub rates: [String; 3],
}

/// Why a model has no Deep thinking (the page words it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoThinking {
    /// Deep thinking is Claude's extended thinking; other makers' models answer without it.
    NotClaude,
    /// A Claude model older than extended thinking.
    OlderClaude,
}

/// A model the chat offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatModel {
    pub id: String,
    /// "Claude Sonnet 4.5 (CS4.5)".
    pub label: String,
    /// Deep thinking (Anthropic's extended thinking) is available.
    pub thinking: bool,
    /// Why the Deep thinking toggle is off for this model (`None` when it is available).
    pub no_thinking: Option<NoThinking>,
    /// What the balance pays per million tokens in web chat, `$3 / $15` (input / output); empty if unknown.
    pub price: String,
}

/// What the chat page needs before any conversation: the models and whether the mock answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSetup {
    pub models: Vec<ChatModel>,
    pub default_model: String,
    pub mock_upstream: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRow {
    pub id: i64,
    pub title: String,
    pub model: String,
    pub thinking: bool,
    /// "3 min ago", formatted on the server.
    pub updated: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessageRow {
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// The text as written (a person's message is shown as plain text).
    pub content: String,
    /// A reply rendered from Markdown, safe to insert.
    pub html: String,
    pub thinking: String,
    pub model_label: String,
    /// `done`, `pending`, `streaming`, `stopped` or `failed`.
    pub status: String,
    pub error: Option<String>,
    /// The error is one Billing can fix: the conversation links there.
    pub error_billing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatThread {
    pub conversation: ConversationRow,
    pub messages: Vec<ChatMessageRow>,
}

/// A message stored and its reply waiting: stream it from `/chat/replies/{reply_id}/stream`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedReply {
    pub conversation_id: i64,
    pub reply_id: i64,
}

/// One event of a streaming reply: `t` is `text` or `thinking` (with a piece in `v`), `done`, or `error`
/// (with the message in `v`, and `billing` when the Billing page can fix it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatEvent {
    pub t: String,
    #[serde(default)]
    pub v: Option<String>,
    #[serde(default)]
    pub billing: Option<bool>,
}

/// An amount of USD as a page shows it (`shown`, by the display rule in `domain::money::Shown`) and to the
/// last unit (`exact`), which the page offers as a tooltip when `rounded`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usd {
    pub shown: String,
    pub exact: String,
    pub rounded: bool,
}

/// The signed-in home page: where the account stands, and for a new account the first steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub balance: Usd,
    pub balance_positive: bool,
    pub rpm: u32,
    pub packages: Vec<OverviewPackage>,
    pub today_calls: i64,
    /// What today's calls (UTC) took from the balance and from packages.
    pub today_balance: Usd,
    pub today_packages: Usd,
    /// Up to three keys, most recently used first: (name, prefix, last used).
    pub recent_keys: Vec<(String, String, String)>,
    pub key_count: usize,
    /// The three first steps, each done or not: created a key, made a call, invited a friend.
    pub steps_done: [bool; 3],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewPackage {
    pub title: String,
    pub remaining: Usd,
    pub original: Usd,
    pub percent_left: u8,
    pub expires_relative: String,
}
