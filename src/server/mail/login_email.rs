//! The magic-link email: HTML with a button and the plain link, a text part, the expiry time, the product name.

use super::OutgoingEmail;
use crate::server::time::format_utc;

/// `asked_by` names the browser that asked ("Chrome 131 on macOS, from 198.51.100.20").
pub fn build(to: &str, link: &str, expires_at_ms: i64, minutes: i64, asked_by: &str) -> OutgoingEmail {
    let expires = format_utc(expires_at_ms);
    let text = format!(
        "Log in to Gatehouse\n\n\
         Someone (hopefully you) asked to log in to Gatehouse as {to}.\n\
         Asked by: {asked_by}.\n\n\
         Open this link and click \"Confirm and log in\":\n{link}\n\n\
         The link works once and expires in {minutes} minutes (at {expires}).\n\
         If you did not ask for it, ignore this email: nothing happens without the click.\n\n\
         Gatehouse\n"
    );
    let (to_html, link_html, expires_html) = (escape(to), escape(link), escape(&expires));
    let asked_html = escape(asked_by);
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Log in to Gatehouse</title></head>
<body style="margin:0;background:#f4f5f7;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2330">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:32px 12px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:520px;background:#ffffff;border-radius:12px;border:1px solid #e3e6ec">
<tr><td style="padding:28px 32px 8px;font-size:20px;font-weight:700;color:#3b4cca">&#9670; Gatehouse</td></tr>
<tr><td style="padding:8px 32px;font-size:16px;line-height:1.5">
<p style="margin:0 0 12px">Someone (hopefully you) asked to log in to Gatehouse as <strong>{to_html}</strong>.</p>
<p style="margin:0 0 12px;font-size:14px;color:#5b6275">Asked by: {asked_html}.</p>
<p style="margin:0 0 20px">Click the button, then <strong>Confirm and log in</strong> on the page that opens.</p>
<p style="margin:0 0 24px"><a href="{link_html}" style="display:inline-block;background:#3b4cca;color:#ffffff;text-decoration:none;padding:12px 22px;border-radius:8px;font-weight:600">Log in to Gatehouse</a></p>
<p style="margin:0 0 8px;font-size:14px;color:#5b6275">Or paste this link into your browser:</p>
<p style="margin:0 0 20px;font-size:13px;word-break:break-all"><a href="{link_html}" style="color:#3b4cca">{link_html}</a></p>
<p style="margin:0 0 24px;font-size:14px;color:#5b6275">The link works once and expires in {minutes} minutes (at {expires_html}). If you did not ask for it, ignore this email.</p>
</td></tr></table></td></tr></table></body></html>"#
    );
    OutgoingEmail { to: to.to_string(), subject: "Your Gatehouse login link".to_string(), text, html }
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
        );
        assert!(m.text.contains("http://x/auth/confirm?token=T&a=1"));
        assert!(m.text.contains("Asked by: Firefox 133 on Linux, from 198.51.100.20."));
        assert!(m.html.contains("Asked by: Firefox 133 on Linux, from 198.51.100.20."));
        assert!(m.html.contains("http://x/auth/confirm?token=T&amp;a=1"));
        for part in [&m.text, &m.html] {
            assert!(part.contains("15 minutes") && part.contains("1970-01-01 00:00 UTC") && part.contains("Gatehouse"));
        }
    }

    #[test]
    fn addresses_cannot_inject_markup() {
        assert_eq!(escape("<b>\"'&"), "&lt;b&gt;&quot;&#39;&amp;");
    }
}
