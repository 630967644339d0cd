//! `Email`: an address as typed (trimmed) plus its normalized form, used to recognise one person behind
//! `A.B+x@Gmail.com` and `ab@gmail.com`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest address SMTP accepts (RFC 5321 path limit minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    typed: String,
    normalized: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter your email address.")]
    Empty,
    #[error("That email address is too long (at most 254 characters).")]
    TooLong,
    #[error("An email address needs an @ followed by a domain, like name@example.com.")]
    MissingAt,
    #[error("An email address has exactly one @.")]
    TooManyAt,
    #[error("Email addresses with spaces or non-ASCII characters are not supported.")]
    BadCharacter,
    #[error("The part before the @ is missing or not valid.")]
    BadLocalPart,
    #[error("The domain after the @ is not valid, like example.com.")]
    BadDomain,
}

impl Email {
    /// Parses what a person typed: surrounding whitespace is ignored, anything else odd is refused.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(EmailError::Empty);
        }
        if typed.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        if !typed.is_ascii() || typed.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
            return Err(EmailError::BadCharacter);
        }
        let mut parts = typed.split('@');
        let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
            (Some(_), None, _) => return Err(EmailError::MissingAt),
            (Some(local), Some(domain), None) => (local, domain),
            _ => return Err(EmailError::TooManyAt),
        };
        if !valid_local(local) {
            return Err(EmailError::BadLocalPart);
        }
        if !valid_domain(domain) {
            return Err(EmailError::BadDomain);
        }
        Ok(Self { typed: typed.to_string(), normalized: normalize(local, domain) })
    }

    /// The address as the person typed it (trimmed): where mail is sent.
    pub fn as_typed(&self) -> &str {
        &self.typed
    }

    /// Lower-cased, `+tag` removed, and for Gmail dots removed and googlemail.com folded into gmail.com.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The lower-cased domain part.
    pub fn domain(&self) -> &str {
        self.normalized.rsplit('@').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.typed)
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || domain.len() > 253 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld = labels[labels.len() - 1];
    labels.iter().all(label_ok) && tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
}

fn normalize(local: &str, domain: &str) -> String {
    let local = local.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    let untagged = match local.split_once('+') {
        Some((base, _)) if !base.is_empty() => base.to_string(),
        _ => local,
    };
    if domain == "gmail.com" || domain == "googlemail.com" {
        format!("{}@gmail.com", untagged.replace('.', ""))
    } else {
        format!("{untagged}@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Email::parse(s).unwrap().normalized().to_string()
    }

    #[test]
    fn surrounding_spaces_are_trimmed_and_the_typed_form_is_kept() {
        let e = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(e.as_typed(), "Alice.Smith@Example.COM");
        assert_eq!(e.normalized(), "alice.smith@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn gmail_dots_and_tags_are_removed_and_googlemail_is_folded() {
        assert_eq!(norm("A.B+x@gmail.com"), "ab@gmail.com");
        assert_eq!(norm("ab@GMAIL.com"), "ab@gmail.com");
        assert_eq!(norm("a.b@googlemail.com"), "ab@gmail.com");
        assert_eq!(norm("a.b+promo+more@googlemail.com"), "ab@gmail.com");
    }

    #[test]
    fn other_domains_lose_only_the_tag_and_keep_dots() {
        assert_eq!(norm("first.last+news@Example.org"), "first.last@example.org");
        assert_eq!(norm("first.last@example.org"), "first.last@example.org");
    }

    #[test]
    fn a_leading_plus_is_not_treated_as_a_tag() {
        assert_eq!(norm("+x@example.org"), "+x@example.org");
    }

    #[test]
    fn empty_and_whitespace_only_are_refused() {
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        assert_eq!(Email::parse("   \t "), Err(EmailError::Empty));
    }

    #[test]
    fn input_without_at_is_refused() {
        assert_eq!(Email::parse("alice.example.com"), Err(EmailError::MissingAt));
    }

    #[test]
    fn two_ats_are_refused() {
        assert_eq!(Email::parse("a@b@example.com"), Err(EmailError::TooManyAt));
    }

    #[test]
    fn inner_spaces_and_unicode_are_refused() {
        assert_eq!(Email::parse("al ice@example.com"), Err(EmailError::BadCharacter));
        assert_eq!(Email::parse("jörg@example.com"), Err(EmailError::BadCharacter));
        assert_eq!(Email::parse("user@exämple.com"), Err(EmailError::BadCharacter));
        assert_eq!(Email::parse("user@example.com\u{0}"), Err(EmailError::BadCharacter));
    }

    #[test]
    fn a_300_character_input_is_refused_as_too_long() {
        let long = format!("{}@example.com", "a".repeat(300));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn a_local_part_over_64_characters_is_refused() {
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long), Err(EmailError::BadLocalPart));
    }

    #[test]
    fn bad_local_parts_are_refused() {
        for s in ["@example.com", ".a@example.com", "a.@example.com", "a..b@example.com", "a\"b@example.com"] {
            assert_eq!(Email::parse(s), Err(EmailError::BadLocalPart), "{s}");
        }
    }

    #[test]
    fn bad_domains_are_refused() {
        for s in
            ["a@", "a@localhost", "a@example", "a@-x.com", "a@x-.com", "a@x..com", "a@x.c", "a@1.2.3.4", "a@x_y.com"]
        {
            assert_eq!(Email::parse(s), Err(EmailError::BadDomain), "{s}");
        }
    }

    #[test]
    fn errors_read_as_sentences_a_person_understands() {
        let msg = Email::parse("nope").unwrap_err().to_string();
        assert!(msg.contains("@"), "{msg}");
    }
}
