//! The magic-link email: HTML with a button and the plain link, a text part, the expiry time, the product name,
//! written in the reader's language.

use super::OutgoingEmail;
use crate::i18n::{td_string, Locale};
use crate::server::time::date_time_for;
use crate::shared::text::fill;

/// `asked_by` names the browser that asked ("Chrome 131 on macOS, from 198.51.100.20"), already in `locale`.
pub fn build(to: &str, link: &str, expires_at_ms: i64, minutes: i64, asked_by: &str, locale: Locale) -> OutgoingEmail {
    let expires = date_time_for(expires_at_ms, locale);
    let title = td_string!(locale, email.title);
    let button = td_string!(locale, email.confirm_button);
    let text = format!(
        "{title}\n\n{someone}\n{asked}\n\n{open}\n{link}\n\n{expiry}\n{ignore}\n\nGatehouse\n",
        someone = fill(td_string!(locale, email.someone_asked), &[("to", &to)]),
        asked = fill(td_string!(locale, email.asked_by), &[("asked_by", &asked_by)]),
        open = fill(td_string!(locale, email.open_and_click), &[("button", &button)]),
        expiry = fill(td_string!(locale, email.expires_text), &[("minutes", &minutes), ("expires", &expires)]),
        ignore = td_string!(locale, email.ignore_text),
    );
    let (to_html, link_html, expires_html) = (escape(to), escape(link), escape(&expires));
    let asked_html = escape(asked_by);
    let (lang, title_html) = (crate::i18n::I18nLocaleTrait::as_str(locale), escape(title));
    let someone_html =
        fill(&escape(td_string!(locale, email.someone_asked)), &[("to", &format!("<strong>{to_html}</strong>"))]);
    let asked_by_html = fill(&escape(td_string!(locale, email.asked_by)), &[("asked_by", &asked_html)]);
    let click_html = fill(
        &escape(td_string!(locale, email.click_button)),
        &[("button", &format!("<strong>{}</strong>", escape(button)))],
    );
    let or_paste_html = escape(td_string!(locale, email.or_paste));
    let expiry_html =
        fill(&escape(td_string!(locale, email.expires_html)), &[("minutes", &minutes), ("expires", &expires_html)]);
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title_html}</title></head>
<body style="margin:0;background:#f4f5f7;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2330">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:32px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:520px;background:#ffffff;border-radius:12px;border:1px solid #e3e6ec">
<tr><td style="padding:28px 32px 8px;font-size:20px;font-weight:700;color:#3b4cca">&#9670; Gatehouse</td></tr>
<tr><td style="padding:8px 32px;font-size:16px;line-height:1.5">
<p style="margin:0 0 12px">{someone_html}</p>
<p style="margin:0 0 12px;font-size:14px;color:#5b6275">{asked_by_html}</p>
<p style="margin:0 0 20px">{click_html}</p>
<p style="margin:0 0 24px"><a href="{link_html}" style="display:inline-block;background:#3b4cca;color:#ffffff;text-decoration:none;padding:12px 22px;border-radius:8px;font-weight:600">{title_html}</a></p>
<p style="margin:0 0 8px;font-size:14px;color:#5b6275">{or_paste_html}</p>
<p style="margin:0 0 20px;font-size:13px;word-break:break-all"><a href="{link_html}" style="color:#3b4cca">{link_html}</a></p>
<p style="margin:0 0 24px;font-size:14px;color:#5b6275">{expiry_html}</p>
</td></tr></table></td></tr></table></body></html>"#
    );
    OutgoingEmail { to: to.to_string(), subject: td_string!(locale, email.subject).to_string(), text, html }
}

/// Minimal HTML escaping for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_link_the_expiry_and_the_product_name() {
        let m = build(
            "a@example.com",
            "http://x/auth/confirm?token=T&a=1",
            0,
            15,
            "Firefox 133 on Linux, from 198.51.100.20",
            Locale::en,
        );
        assert!(m.text.contains("http://x/auth/confirm?token=T&a=1"));
        assert!(m.text.contains("Asked by: Firefox 133 on Linux, from 198.51.100.20."));
        assert!(m.html.contains("Asked by: Firefox 133 on Linux, from 198.51.100.20."));
        assert!(m.html.contains("http://x/auth/confirm?token=T&amp;a=1"));
        assert!(m.html.contains("<html lang=\"en\">"));
        assert!(m.html.contains("asked to log in to Gatehouse as <strong>a@example.com</strong>."));
        assert!(m.html.contains("Click the button, then <strong>Confirm and log in</strong> on the page that opens."));
        assert!(m.text.contains("Open this link and click \"Confirm and log in\":\nhttp://x/"));
        assert_eq!(m.subject, "Your Gatehouse login link");
        for part in [&m.text, &m.html] {
            assert!(part.contains("15 minutes") && part.contains("1970-01-01 00:00 UTC") && part.contains("Gatehouse"));
        }
    }

    #[test]
    fn chinese_and_japanese_emails_are_written_wholly_in_their_language() {
        let english = [
            "Someone (hopefully you)",
            "Log in to Gatehouse",
            "Asked by",
            "Open this link",
            "Confirm and log in",
            "Click the button",
            "Or paste this link",
            "The link works once",
            "If you did not ask",
            "minutes",
            "Your Gatehouse login link",
            " on Linux",
            ", from ",
        ];
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        for (locale, minutes) in [(Locale::zh, "15 分钟"), (Locale::ja, "15 分")] {
            let asked_by = crate::server::auth::user_agent::described_in(ua, "198.51.100.20", locale);
            let m = build("a@example.com", "http://x/auth/confirm?token=T&a=1", 0, 15, &asked_by, locale);
            assert!(m.html.contains(&format!("<html lang=\"{}\">", crate::i18n::I18nLocaleTrait::as_str(locale))));
            assert!(m.text.contains("http://x/auth/confirm?token=T&a=1"), "{}", m.text);
            assert!(m.html.contains("http://x/auth/confirm?token=T&amp;a=1"), "{}", m.html);
            for part in [&m.subject, &m.text, &m.html] {
                for sentence in english {
                    assert!(!part.contains(sentence), "{sentence:?} in {part}");
                }
            }
            for part in [&m.text, &m.html] {
                assert!(part.contains(minutes) && part.contains("1970年1月1日 00:00 UTC"), "{part}");
                assert!(
                    part.contains("a@example.com") && part.contains("Firefox 133") && part.contains("198.51.100.20")
                );
            }
        }
    }

    #[test]
    fn addresses_cannot_inject_markup() {
        assert_eq!(escape("<b>\"'&"), "&lt;b&gt;&quot;&#39;&amp;");
    }
}
