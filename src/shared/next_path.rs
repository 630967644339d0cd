//! Where to go after login: only same-site absolute paths are followed; anything else falls back to `/`.

/// Returns `candidate` when it is a path on this site, otherwise `/`.
pub fn safe_next(candidate: &str) -> String {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.starts_with("/\\")
        && candidate.len() <= 512
        && !candidate.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        candidate.to_string()
    } else {
        "/".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn same_site_paths_are_kept_with_their_query() {
        assert_eq!(safe_next("/i"), "/i");
        assert_eq!(safe_next("/billing/bills?page=2"), "/billing/bills?page=2");
    }

    #[test]
    fn other_sites_and_tricks_fall_back_to_the_home_page() {
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
            "i",
            "/ok\r\nSet-Cookie: x=1",
            "/a\\b",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(600))), "/");
    }
}
