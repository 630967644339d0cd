//! A browser's `User-Agent` in a few words ("Chrome 131 on macOS"), for the sessions page and login emails.
//! Only the browser and system are named; anything odd in the header is dropped.

/// "Browser on System", "Browser", or "Unknown browser".
pub fn summary(ua: &str) -> String {
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
    match (browser.is_empty(), system.is_empty()) {
        (false, false) => format!("{browser} on {system}"),
        (false, true) => browser,
        (true, false) => format!("A browser on {system}"),
        (true, true) => "Unknown browser".to_string(),
    }
}

fn named(name: &str, major: Option<String>) -> String {
    match major {
        Some(v) => format!("{name} {v}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

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
            assert_eq!(summary(ua), expected, "{ua}");
        }
    }
}
