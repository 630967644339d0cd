//! How many login emails may be sent per hour, counted so that a stranger cannot lock an address's owner
//! out: the tight limit is per email address *from one network* (IPv4 address or IPv6 /64), so someone
//! else's requests use up only their own network's share; a higher ceiling per address across every
//! network stops mail bombing from many networks (it never holds back a network the owner has a session
//! from, so bombing from elsewhere cannot lock them out at home); and each network has its own limit across
//! addresses. Existing sessions are never touched.
//!
//! The counts are of the login tokens written in the last hour (a sliding hour). To make check-and-write
//! atomic, a request first takes a lock row per counter (`login_send_locks`, an upsert inside the
//! transaction that writes the token, taken in one fixed order): parallel requests for the same address
//! or network queue there, and each counts only after the one before it committed or rolled back. So no
//! number of parallel requests slips past a limit, and a refused request writes nothing.

use crate::i18n::{td_string, Locale};
use crate::server::time::{HOUR_MS, MINUTE_MS};
use crate::shared::error::AppError;
use crate::shared::text::fill;
use sqlx::AnyConnection;

/// Login emails per hour (`LOGIN_LINKS_PER_EMAIL_PER_HOUR`, `LOGIN_LINKS_PER_EMAIL_CEILING_PER_HOUR`,
/// `LOGIN_LINKS_PER_IP_PER_HOUR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendLimits {
    /// To one address from one network.
    pub per_email_and_network: u32,
    /// To one address from every network together.
    pub per_email: u32,
    /// From one network to every address together.
    pub per_network: u32,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self { per_email_and_network: 5, per_email: 20, per_network: 30 }
    }
}

/// What a refused request ran out of: its network's emails, or the address's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counted {
    Network,
    Address,
}

/// Counts one login email to `email` (normalized) asked from `network`, or refuses it with how long to
/// wait, in `locale` (the language of the page asking). Runs inside the transaction that then writes the
/// token: the locks it takes hold until then.
pub async fn take(
    tx: &mut AnyConnection,
    limits: SendLimits,
    email: &str,
    network: &str,
    now: i64,
    locale: Locale,
) -> Result<(), AppError> {
    for subject in [format!("net:{network}"), format!("email:{email}")] {
        sqlx::query(
            "INSERT INTO login_send_locks (subject, touched_at) VALUES ($1, $2) \
             ON CONFLICT (subject) DO UPDATE SET touched_at = $2",
        )
        .bind(&subject)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let since = now - HOUR_MS;
    let checks: [(&str, &[&str], u32, Counted); 3] = [
        ("client_ip = $1", &[network], limits.per_network, Counted::Network),
        ("email_normalized = $1 AND client_ip = $2", &[email, network], limits.per_email_and_network, Counted::Address),
        ("email_normalized = $1", &[email], limits.per_email, Counted::Address),
    ];
    for (filter, values, limit, what) in checks {
        // Neither the ceiling across networks nor the network's own limit holds back a network the address's
        // owner has a session from: a stranger (elsewhere, or behind the same shared address) cannot lock the
        // owner out at home. The per-address-and-network limit still holds.
        if limit != limits.per_email_and_network && owner_known_network(tx, email, network, now).await? {
            continue;
        }
        let sql = format!(
            "SELECT COUNT(*), MIN(created_at) FROM login_tokens WHERE {filter} AND created_at > ${}",
            values.len() + 1
        );
        let mut query = sqlx::query_as::<_, (i64, Option<i64>)>(&sql);
        for v in values {
            query = query.bind(*v);
        }
        let (sent, oldest) = query.bind(since).fetch_one(&mut *tx).await?;
        if sent >= i64::from(limit) {
            return Err(refusal(what, oldest.unwrap_or(now) + HOUR_MS - now, locale));
        }
    }
    Ok(())
}

/// Whether a live session of the account with this address was signed in from `network`.
async fn owner_known_network(
    tx: &mut AnyConnection,
    email: &str,
    network: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let addresses: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT s.client_ip FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE u.email_normalized = $1 AND s.expires_at > $2",
    )
    .bind(email)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    Ok(addresses
        .into_iter()
        .filter_map(|(a,)| a?.parse::<std::net::IpAddr>().ok())
        .any(|ip| crate::server::http::client_ip::network_of(ip) == network))
}

fn refusal(what: Counted, wait_ms: i64, locale: Locale) -> AppError {
    let wait_ms = wait_ms.max(1000);
    let minutes = (wait_ms + MINUTE_MS - 1) / MINUTE_MS;
    let sentence = match (what, minutes == 1) {
        (Counted::Network, true) => td_string!(locale, login.too_many_network_one_minute),
        (Counted::Network, false) => td_string!(locale, login.too_many_network_minutes),
        (Counted::Address, true) => td_string!(locale, login.too_many_address_one_minute),
        (Counted::Address, false) => td_string!(locale, login.too_many_address_minutes),
    };
    AppError::RateLimited {
        message: fill(sentence, &[("minutes", &minutes)]),
        retry_after_secs: u64::try_from(wait_ms / 1000).unwrap_or(60),
    }
}

/// Deletes lock rows untouched for an hour (the hourly sweep); the tokens they guarded are past counting.
pub async fn purge(pool: &sqlx::AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM login_send_locks WHERE touched_at < $1").bind(now - HOUR_MS).execute(pool).await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_says_how_long_to_wait_in_whole_minutes() {
        let AppError::RateLimited { message, retry_after_secs } =
            refusal(Counted::Network, 59 * MINUTE_MS + 1, Locale::en)
        else {
            panic!()
        };
        assert!(message.contains("your network") && message.ends_with("Try again in 60 minutes."), "{message}");
        assert_eq!(retry_after_secs, 3540);
        let AppError::RateLimited { message, retry_after_secs } = refusal(Counted::Address, 10, Locale::en) else {
            panic!()
        };
        assert!(message.contains("this email address") && message.ends_with("1 minute."), "{message}");
        assert_eq!(retry_after_secs, 1);
    }

    #[test]
    fn the_refusal_is_written_in_the_pages_language() {
        for locale in [Locale::zh, Locale::ja] {
            let AppError::RateLimited { message, .. } = refusal(Counted::Address, 30 * MINUTE_MS, locale) else {
                panic!()
            };
            assert!(message.contains("30") && !message.contains("Try again") && !message.contains('{'), "{message}");
        }
    }
}
