//! Rate-limit tiers: the sum of an account's paid top-ups (gifts, codes and packages do not count)
//! picks its requests-per-minute limit.

/// Tiers by cumulative paid top-ups, in minor units (cents, fen) of the top-up currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierTable {
    /// (threshold in minor units, requests per minute), ascending; the first threshold is 0.
    tiers: Vec<(i64, u32)>,
}

pub const DEFAULT_TIERS: &str = "0:60,20:1000,300:10000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub rpm: u32,
    /// The next tier: its threshold (minor units) and limit.
    pub next: Option<(i64, u32)>,
}

impl TierTable {
    /// `threshold:rpm` pairs in whole currency units, e.g. `0:60,20:1000,300:10000`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tiers = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (threshold, rpm) = pair.split_once(':').ok_or_else(|| format!("{pair:?}: expected amount:rpm"))?;
            let threshold: i64 =
                threshold.trim().parse().map_err(|_| format!("{threshold:?} is not a whole amount"))?;
            let rpm: u32 = rpm.trim().parse().map_err(|_| format!("{rpm:?} is not a number of requests"))?;
            if threshold < 0 || rpm == 0 {
                return Err(format!("{pair:?}: amounts cannot be negative and limits must be positive"));
            }
            tiers.push((threshold.saturating_mul(100), rpm));
        }
        tiers.sort_unstable();
        tiers.dedup_by_key(|t| t.0);
        if tiers.first().map(|t| t.0) != Some(0) {
            return Err("the tiers must start at 0 (the limit of accounts that never paid)".into());
        }
        Ok(Self { tiers })
    }

    pub fn tier_for(&self, paid_minor: i64) -> Tier {
        let idx = self.tiers.iter().rposition(|(threshold, _)| paid_minor >= *threshold).unwrap_or(0);
        Tier { rpm: self.tiers.get(idx).map(|t| t.1).unwrap_or(60), next: self.tiers.get(idx + 1).copied() }
    }

    pub fn all(&self) -> &[(i64, u32)] {
        &self.tiers
    }
}

impl Default for TierTable {
    fn default() -> Self {
        Self::parse(DEFAULT_TIERS).unwrap_or(Self { tiers: vec![(0, 60)] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_thresholds_give_60_1000_and_10000_rpm() {
        let t = TierTable::default();
        assert_eq!(t.tier_for(0), Tier { rpm: 60, next: Some((2000, 1000)) });
        assert_eq!(t.tier_for(1999).rpm, 60);
        assert_eq!(t.tier_for(2000), Tier { rpm: 1000, next: Some((30000, 10000)) });
        assert_eq!(t.tier_for(29_999).rpm, 1000);
        assert_eq!(t.tier_for(30_000), Tier { rpm: 10000, next: None });
    }

    #[test]
    fn tier_tables_are_configurable_and_checked() {
        let t = TierTable::parse("0:10, 5:100").unwrap();
        assert_eq!(t.tier_for(500).rpm, 100);
        assert!(TierTable::parse("5:100").is_err());
        assert!(TierTable::parse("0:0").is_err());
        assert!(TierTable::parse("0:60,x:5").is_err());
    }
}
