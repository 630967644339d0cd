//! A browser's `User-Agent` in a few words ("Chrome 131 on macOS"), for the sessions page and login emails.
//! Only the browser and system are named; anything odd in the header is dropped. The words around the names
//! ("on", "from", "Unknown browser") are written in the reader's language.

use crate::i18n::{td_string, Locale};
use crate::shared::text::fill;

/// "Browser on System", "Browser", or "Unknown browser", in `locale`: "Chrome 131 on macOS",
/// "macOS 上的 Chrome 131".
pub fn summary_in(ua: &str, locale: Locale) -> String {
    let (browser, system) = parts(ua);
    words(&browser, system, locale)
}

/// "Chrome 131 on macOS, from 198.51.100.20" in `locale`: the browser asking for a login email.
pub fn described_in(ua: &str, address: &str, locale: Locale) -> String {
    let address = if address == "unknown" { td_string!(locale, sessions.unknown_address) } else { address };
    fill(td_string!(locale, sessions.browser_from), &[("browser", &summary_in(ua, locale)), ("address", &address)])
}

/// The sentence naming a browser (may be empty) and a system (may be empty).
fn words(browser: &str, system: &str, locale: Locale) -> String {
    match (browser.is_empty(), system.is_empty()) {
        (false, false) => {
            fill(td_string!(locale, sessions.browser_on_system), &[("browser", &browser), ("system", &system)])
        }
        (false, true) => browser.to_string(),
        (true, false) => fill(td_string!(locale, sessions.a_browser_on), &[("system", &system)]),
        (true, true) => td_string!(locale, sessions.unknown_browser).to_string(),
    }
}

/// The browser with its major version (or a tool's name), and the system; either may be empty.
fn parts(ua: &str) -> (String, &'static str) {
    let ua: String = ua.chars().filter(|c| !c.is_control()).take(512).collect();
    let has = |needle: &str| ua.contains(needle);
    let version = |marker: &str| -> Option<String> {
        let rest = &ua[ua.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!major.is_empty()).then_some(major)
    };
    let browser = if has("Edg/") {
        named("Edge", version("Edg/"))
    } else if has("OPR/") {
        named("Opera", version("OPR/"))
    } else if has("Firefox/") {
        named("Firefox", version("Firefox/"))
    } else if has("Chrome/") || has("CriOS/") {
        named("Chrome", version("Chrome/").or_else(|| version("CriOS/")))
    } else if has("Safari/") && has("Version/") {
        named("Safari", version("Version/"))
    } else if let Some(tool) = ["curl/", "python-requests/", "Wget/"].iter().find(|t| has(t)) {
        tool.trim_end_matches('/').to_string()
    } else {
        String::new()
    };
    let system = if has("iPhone") {
        "iPhone"
    } else if has("iPad") {
        "iPad"
    } else if has("Android") {
        "Android"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        ""
    };
    (browser, system)
}

fn named(name: &str, major: Option<String>) -> String {
    match major {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{described_in, summary_in};
    use crate::i18n::Locale;

    #[test]
    fn common_browsers_are_named_with_their_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome 131 on Linux"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", "Safari 17 on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 on Windows"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge 131 on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "Safari 17 on iPhone"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome 131 on Android"),
            ("curl/8.5.0", "curl"),
            ("", "Unknown browser"),
            ("\u{1b}[31mevil\u{7}", "Unknown browser"),
        ];
        for (ua, expected) in cases {
            assert_eq!(summary_in(ua, Locale::en), expected, "{ua}");
        }
    }

    #[test]
    fn the_words_around_the_names_follow_the_language() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(described_in(chrome, "198.51.100.20", Locale::en), "Chrome 131 on Linux, from 198.51.100.20");
        assert_eq!(summary_in(chrome, Locale::zh), "Linux 上的 Chrome 131");
        assert!(!summary_in(chrome, Locale::zh).contains(" on "));
        assert!(!summary_in("", Locale::ja).contains("browser"));
    }
}
