//! What a key that "may manage keys" may do through the key-management API. Such a key is handed to
//! scripts, so it must not be a way around the limits its owner set on the keys page:
//! - it never changes itself (its own cap, allowlist, expiry or state);
//! - it grants nothing it does not have: a key it creates, or a limit it loosens, stays within its own
//!   model allowlist and expiry (and never gets the right to manage keys); a capped manager's own spend
//!   plus the caps of every key made through the API stay within its cap, so many keys cannot add up to
//!   more than it may spend;
//! - a limit set on the keys page can only be tightened: a lower cap, fewer models, an earlier expiry, or
//!   disabled; a key disabled on the page stays disabled.
//!
//! Tightening is always allowed, since it grants nothing.

use super::keys::ApiKey;
use super::money::Money;

/// A key's limits, as they are or as a request would leave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub expires_at: Option<i64>,
    pub spend_cap: Option<Money>,
    /// Empty: every model.
    pub models: Vec<String>,
    pub disabled: bool,
}

impl From<&ApiKey> for Limits {
    fn from(k: &ApiKey) -> Self {
        Self { expires_at: k.expires_at, spend_cap: k.spend_cap, models: k.models.clone(), disabled: k.disabled }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RightsError {
    #[error("A key cannot change its own settings; change it on the API keys page.")]
    ItsOwnKey,
    #[error("This key can only grant what it has: {0}.")]
    BeyondManager(String),
    #[error("{0} was set on the API keys page; through the API it can only be tightened.")]
    SetOnPage(&'static str),
    #[error(
        "A key that has spent counts against this key's cap: disable it instead, or delete it on the API keys page."
    )]
    SpentKey,
}

/// What a manager has already spent or given out: its own spend plus, for each of the account's keys made
/// through the API (but `except` the one being changed), its cap or what it spent if more (lowering a cap
/// below the spend gives nothing back). A key made through the API without a cap counts as all of it (only
/// an uncapped manager can make one).
pub fn committed(manager: &ApiKey, keys: &[ApiKey], except: Option<i64>) -> Money {
    keys.iter().filter(|k| !k.limits_from_page && Some(k.id) != except && k.id != manager.id).fold(
        manager.spent,
        |sum, k| {
            let given = k.spend_cap.map_or(Money::from_units(i64::MAX), |cap| {
                if cap.units() >= k.spent.units() {
                    cap
                } else {
                    k.spent
                }
            });
            sum.saturating_add(given)
        },
    )
}

/// `manager` deletes `target`. A capped manager cannot delete a key that has spent: deleting would forget
/// that spend and free room for new keys (it can disable the key instead).
pub fn may_delete(manager: &ApiKey, target: &ApiKey) -> Result<(), RightsError> {
    if manager.spend_cap.is_some() && target.spent.is_positive() && !target.limits_from_page && target.id != manager.id
    {
        return Err(RightsError::SpentKey);
    }
    Ok(())
}

/// A key `manager` creates with `limits`, having `committed` already (see [`committed`]).
pub fn may_create(manager: &ApiKey, limits: &Limits, committed: Money) -> Result<(), RightsError> {
    within_cap(manager, limits.spend_cap, committed)?;
    within_models(manager, &limits.models)?;
    within_expiry(manager, limits.expires_at)
}

/// `manager` changes `target` from its limits to `after`, having `committed` already without `target`.
pub fn may_update(manager: &ApiKey, target: &ApiKey, after: &Limits, committed: Money) -> Result<(), RightsError> {
    if manager.id == target.id {
        return Err(RightsError::ItsOwnKey);
    }
    let before = Limits::from(target);
    let from_page = target.limits_from_page;
    if !cap_no_looser(before.spend_cap, after.spend_cap) {
        if from_page {
            return Err(RightsError::SetOnPage("Its spending cap"));
        }
        within_cap(manager, after.spend_cap, committed)?;
    }
    if !models_no_wider(&before.models, &after.models) {
        if from_page {
            return Err(RightsError::SetOnPage("Its model allowlist"));
        }
        within_models(manager, &after.models)?;
    }
    if !expiry_no_later(before.expires_at, after.expires_at) {
        if from_page {
            return Err(RightsError::SetOnPage("Its expiry"));
        }
        within_expiry(manager, after.expires_at)?;
    }
    if before.disabled && !after.disabled && from_page {
        return Err(RightsError::SetOnPage("Disabling it"));
    }
    Ok(())
}

fn cap_no_looser(before: Option<Money>, after: Option<Money>) -> bool {
    match (before, after) {
        (None, _) => true,
        (Some(b), Some(a)) => a <= b,
        (Some(_), None) => false,
    }
}

fn models_no_wider(before: &[String], after: &[String]) -> bool {
    before.is_empty() || (!after.is_empty() && after.iter().all(|m| before.iter().any(|b| b.eq_ignore_ascii_case(m))))
}

fn expiry_no_later(before: Option<i64>, after: Option<i64>) -> bool {
    match (before, after) {
        (None, _) => true,
        (Some(b), Some(a)) => a <= b,
        (Some(_), None) => false,
    }
}

fn within_cap(manager: &ApiKey, cap: Option<Money>, committed: Money) -> Result<(), RightsError> {
    let Some(mine) = manager.spend_cap else { return Ok(()) };
    let room = if mine.units() > committed.units() { mine.saturating_sub(committed) } else { Money::ZERO };
    if cap_no_looser(Some(room), cap) {
        return Ok(());
    }
    Err(RightsError::BeyondManager(format!(
        "a spending cap of at most ${} (its own ${} cap, less what it spent and the caps of keys it made)",
        room.to_plain(),
        mine.to_plain()
    )))
}

fn within_models(manager: &ApiKey, models: &[String]) -> Result<(), RightsError> {
    if models_no_wider(&manager.models, models) {
        Ok(())
    } else {
        Err(RightsError::BeyondManager(format!("models among {}", manager.models.join(", "))))
    }
}

fn within_expiry(manager: &ApiKey, expires_at: Option<i64>) -> Result<(), RightsError> {
    match manager.expires_at {
        Some(mine) if !expiry_no_later(Some(mine), expires_at) => Err(RightsError::BeyondManager(format!(
            "an expiry no later than its own ({})",
            crate::server::time::format_date(mine)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> ApiKey {
        ApiKey {
            id,
            user_id: 1,
            name: format!("key {id}"),
            prefix: format!("sk-gh-{id}…"),
            created_at: 0,
            expires_at: None,
            spend_cap: None,
            models: Vec::new(),
            disabled: false,
            last_used_at: None,
            used_times: 0,
            spent: Money::ZERO,
            can_manage: false,
            limits_from_page: true,
        }
    }

    fn capped_manager() -> ApiKey {
        ApiKey {
            can_manage: true,
            spend_cap: Some(Money::usd(10)),
            models: vec!["claude-sonnet-4-5".into()],
            expires_at: Some(1_000_000),
            ..key(1)
        }
    }

    fn limits(cap: Option<i64>, models: &[&str], expires_at: Option<i64>) -> Limits {
        Limits {
            expires_at,
            spend_cap: cap.map(Money::usd),
            models: models.iter().map(|m| m.to_string()).collect(),
            disabled: false,
        }
    }

    #[test]
    fn a_manager_creates_keys_only_within_its_own_limits() {
        let m = capped_manager();
        let none = Money::ZERO;
        assert_eq!(may_create(&m, &limits(Some(5), &["claude-sonnet-4-5"], Some(999)), none), Ok(()));
        assert_eq!(may_create(&m, &limits(Some(10), &["claude-sonnet-4-5"], Some(1_000_000)), none), Ok(()));
        for beyond in [
            limits(None, &["claude-sonnet-4-5"], Some(9)),
            limits(Some(11), &["claude-sonnet-4-5"], Some(9)),
            limits(Some(1), &[], Some(9)),
            limits(Some(1), &["gpt-5"], Some(9)),
            limits(Some(1), &["claude-sonnet-4-5"], None),
        ] {
            assert!(matches!(may_create(&m, &beyond, none), Err(RightsError::BeyondManager(_))), "{beyond:?}");
        }
        let unlimited = ApiKey { can_manage: true, ..key(1) };
        assert_eq!(may_create(&unlimited, &limits(None, &[], None), none), Ok(()));
    }

    #[test]
    fn many_keys_cannot_add_up_to_more_than_the_managers_cap() {
        let m = ApiKey { spent: Money::usd(2), ..capped_manager() };
        let made = |id, cap| ApiKey { id, spend_cap: Some(Money::usd(cap)), limits_from_page: false, ..key(id) };
        let page_key = ApiKey { spend_cap: Some(Money::usd(100)), ..key(9) };
        let keys = vec![m.clone(), made(2, 3), made(3, 4), page_key];
        let given = committed(&m, &keys, None);
        assert_eq!(given, Money::usd(9), "its $2 spent and the $3 and $4 it gave; page keys are the owner's");
        let one_more = |cap| limits(Some(cap), &["claude-sonnet-4-5"], Some(9));
        assert_eq!(may_create(&m, &one_more(1), given), Ok(()));
        assert!(matches!(may_create(&m, &one_more(2), given), Err(RightsError::BeyondManager(r)) if r.contains("$1 ")));
        // A key whose cap was lowered below its spend still counts its spend; a spent key cannot be deleted.
        let lowered = ApiKey { spent: Money::usd(4), spend_cap: Some(Money::usd(1)), ..made(4, 0) };
        assert_eq!(committed(&m, std::slice::from_ref(&lowered), None), Money::usd(6));
        assert_eq!(may_delete(&m, &lowered), Err(RightsError::SpentKey));
        assert_eq!(may_delete(&m, &made(5, 3)), Ok(()), "nothing spent: nothing forgotten");
        // Raising key 3 from $4 to $5 fits (9 - 4 + 5 = 10); to $6 does not.
        let without_3 = committed(&m, &keys, Some(3));
        let raised = |cap| Limits { spend_cap: Some(Money::usd(cap)), ..Limits::from(&keys[2]) };
        assert_eq!(may_update(&m, &keys[2], &raised(5), without_3), Ok(()));
        assert!(may_update(&m, &keys[2], &raised(6), without_3).is_err());
    }

    #[test]
    fn a_manager_never_changes_itself() {
        let m = capped_manager();
        let mut after = Limits::from(&m);
        after.spend_cap = Some(Money::usd(1));
        assert_eq!(may_update(&m, &m, &after, Money::ZERO), Err(RightsError::ItsOwnKey), "not even to tighten");
    }

    #[test]
    fn limits_set_on_the_page_can_only_be_tightened() {
        let m = ApiKey { can_manage: true, ..key(1) };
        let page = ApiKey {
            spend_cap: Some(Money::usd(5)),
            models: vec!["claude-sonnet-4-5".into(), "claude-haiku-4-5".into()],
            expires_at: Some(500),
            disabled: true,
            ..key(2)
        };
        let same = Limits::from(&page);
        assert_eq!(may_update(&m, &page, &same, Money::ZERO), Ok(()), "a rename changes no limit");
        let tighter = Limits {
            spend_cap: Some(Money::usd(2)),
            models: vec!["claude-haiku-4-5".into()],
            expires_at: Some(400),
            disabled: true,
        };
        assert_eq!(may_update(&m, &page, &tighter, Money::ZERO), Ok(()));
        for (looser, what) in [
            (Limits { spend_cap: Some(Money::usd(6)), ..same.clone() }, "Its spending cap"),
            (Limits { spend_cap: None, ..same.clone() }, "Its spending cap"),
            (Limits { models: Vec::new(), ..same.clone() }, "Its model allowlist"),
            (Limits { models: vec!["gpt-5".into()], ..same.clone() }, "Its model allowlist"),
            (Limits { expires_at: None, ..same.clone() }, "Its expiry"),
            (Limits { expires_at: Some(501), ..same.clone() }, "Its expiry"),
            (Limits { disabled: false, ..same.clone() }, "Disabling it"),
        ] {
            assert_eq!(may_update(&m, &page, &looser, Money::ZERO), Err(RightsError::SetOnPage(what)), "{looser:?}");
        }
    }

    #[test]
    fn limits_set_through_the_api_may_be_loosened_within_the_managers_own() {
        let m = capped_manager();
        let scripted = ApiKey {
            spend_cap: Some(Money::usd(2)),
            models: vec!["claude-sonnet-4-5".into()],
            expires_at: Some(100),
            disabled: true,
            limits_from_page: false,
            ..key(3)
        };
        let looser = Limits {
            spend_cap: Some(Money::usd(10)),
            expires_at: Some(1_000_000),
            disabled: false,
            ..Limits::from(&scripted)
        };
        assert_eq!(may_update(&m, &scripted, &looser, Money::ZERO), Ok(()));
        let beyond = Limits { spend_cap: Some(Money::usd(11)), ..looser.clone() };
        assert!(matches!(may_update(&m, &scripted, &beyond, Money::ZERO), Err(RightsError::BeyondManager(_))));
        let uncapped = Limits { spend_cap: None, ..looser };
        assert!(matches!(may_update(&m, &scripted, &uncapped, Money::ZERO), Err(RightsError::BeyondManager(_))));
    }
}
