//! Placeholders for statements that write or read many rows at once. SQLite gets plain `?`: it looks a
//! numbered parameter (`$7`) up by name, one by one, which is quadratic in a long statement (it was 19% of
//! the settlement writer's CPU, and 5% of a benchmark run's when response owners were written with `$n`).

/// Whether statements on this backend take plain `?` placeholders (SQLite) rather than `$n` (PostgreSQL).
pub fn positional(backend_name: &str) -> bool {
    !backend_name.eq_ignore_ascii_case("postgresql")
}

/// `($1, $2, …), ($n, …)` for `rows` rows of `cols` columns, or `(?, ?, …), …` when `positional`.
pub fn rows(rows: usize, cols: usize, positional: bool) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> =
                (1..=cols).map(|c| if positional { "?".to_string() } else { format!("${}", r * cols + c) }).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(?, ?, …)` for an `IN` list of `n` values, numbered from `first` on PostgreSQL.
pub fn in_list(n: usize, first: usize, positional: bool) -> String {
    let items: Vec<String> =
        (0..n).map(|i| if positional { "?".to_string() } else { format!("${}", first + i) }).collect();
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_on_postgresql_and_plain_on_sqlite() {
        assert_eq!(rows(2, 3, false), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(rows(2, 2, true), "(?, ?), (?, ?)");
        assert_eq!(in_list(3, 2, false), "($2, $3, $4)");
        assert_eq!(in_list(2, 9, true), "(?, ?)");
        assert!(positional("SQLite") && !positional("PostgreSQL"));
    }
}
