//! Plain data the server sends to the pages.

use serde::{Deserialize, Serialize};

/// Who is looking at the page, and in which mode the server runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Option<SignedInUser>,
    /// Dev mode: emails go to the dev mailbox; the UI says so.
    pub dev_mode: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub email: String,
    /// RFC 3339-like UTC text, formatted on the server.
    pub member_since: String,
}

/// What the confirm page knows about a login link, without consuming it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginLinkView {
    Valid { email: String, expires_in_minutes: i64 },
    Expired,
    Used,
    Replaced,
    Unknown,
}

impl LoginLinkView {
    /// The sentence shown when a link cannot log anyone in.
    pub fn refusal(&self) -> &'static str {
        match self {
            Self::Expired => "This login link has expired: links work for 15 minutes. Request a new one below.",
            Self::Used => "This login link was already used: each link works once. Request a new one below.",
            Self::Replaced => {
                "A newer login link was sent to this address, so this one no longer works. Use the newest email, or request a new link."
            }
            Self::Unknown | Self::Valid { .. } => {
                "This login link is not valid: it may have been cut off or mistyped. Request a new one below."
            }
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

/// One API key as its owner sees it (never the secret, except once at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub used_times: i64,
    pub spent: String,
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
}
