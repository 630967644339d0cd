//! Referrals by status, read from the database when `/metrics` is scraped (a count the database keeps
//! anyway; nothing is counted in memory for it).

use super::exposition::{Exposition, Kind};
use sqlx::AnyPool;

/// The statuses a referral can have (`domain::referral`), always exported so a status that has no
/// referral yet reads 0 rather than being absent.
const STATUSES: [&str; 4] = ["rewarded", "held", "not_qualified", "rejected"];

/// How many referrals have each status.
pub async fn by_status(pool: &AnyPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, COUNT(*) FROM referrals GROUP BY status ORDER BY status").fetch_all(pool).await
}

/// The counts as the `gatehouse_referrals` gauge.
pub fn render(out: &mut Exposition, counts: &[(String, i64)]) {
    out.family("gatehouse_referrals", Kind::Gauge, "Referrals recorded, by status.");
    for status in STATUSES {
        let n = counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        out.count("gatehouse_referrals", &[("status", status)], u64::try_from(n).unwrap_or(0));
    }
    for (status, n) in counts.iter().filter(|(s, _)| !STATUSES.contains(&s.as_str())) {
        out.count("gatehouse_referrals", &[("status", status.as_str())], u64::try_from(*n).unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_is_exported_and_unknown_ones_too() {
        let mut out = Exposition::default();
        render(&mut out, &[("held".into(), 2), ("rewarded".into(), 5), ("someday".into(), 1)]);
        let text = out.finish();
        for line in [
            "gatehouse_referrals{status=\"rewarded\"} 5\n",
            "gatehouse_referrals{status=\"held\"} 2\n",
            "gatehouse_referrals{status=\"not_qualified\"} 0\n",
            "gatehouse_referrals{status=\"rejected\"} 0\n",
            "gatehouse_referrals{status=\"someday\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
