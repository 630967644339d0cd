//! What the referral pages show.

use serde::{Deserialize, Serialize};

/// The current promotion, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionView {
    pub running: bool,
    /// `$20`.
    pub reward: String,
    /// `Claude Code API $20`.
    pub title: String,
    pub days: i64,
    /// Channel names, e.g. "Claude Code (cc-omg)", "Web chat".
    pub scope: Vec<String>,
    /// `2026-12-31`, when the promotion has an end date.
    pub ends: Option<String>,
    pub apply_window_days: i64,
    pub ip_daily_cap: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteeRow {
    pub email: String,
    pub date: String,
    /// `Rewarded`, `Held for review`, `Not qualified`, `Rejected`.
    pub status: String,
    pub reason: String,
    pub rewarded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarnedPackage {
    pub title: String,
    /// `for inviting a friend` or `for joining through an invitation`.
    pub why: String,
    pub remaining: String,
    pub original: String,
    pub expires: String,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralView {
    pub code: String,
    pub link: String,
    pub promotion: PromotionView,
    pub opened: i64,
    pub signed_up: i64,
    pub qualified: i64,
    pub invitees: Vec<InviteeRow>,
    pub earned: Vec<EarnedPackage>,
    /// The invitation applied to this account: "Invited with CODE: rewarded" and the like.
    pub own_referral: Option<String>,
    /// The code box is shown when this account can still enter a code.
    pub can_enter_code: bool,
    /// Why the box is not shown, when the account never had a referral.
    pub cannot_enter_code: Option<String>,
}

/// `/i/CODE` for a visitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteView {
    /// A working code; `signed_in` visitors are told rewards are for new accounts.
    Valid {
        code: String,
        promotion: PromotionView,
        signed_in: bool,
        /// Signed in, but new enough and without a referral: the code can still be applied on `/i`.
        can_apply: bool,
        /// The signed-in visitor's own invitation.
        own: bool,
    },
    Unknown,
}
