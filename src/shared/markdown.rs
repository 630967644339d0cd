//! Markdown to HTML for chat replies, safe to insert into the page: HTML written in the text is shown as
//! text, links keep only http(s) and mailto targets, images become links (no request leaves the page
//! on its own), and every code block gets a Copy button. Used on the server (history) and in the browser
//! (a reply as it streams in).

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

const COPY_BUTTON: &str = "<div class=\"code-block\"><button type=\"button\" class=\"copy-code\" \
    onclick=\"const b=this;navigator.clipboard&amp;&amp;navigator.clipboard.writeText(b.nextElementSibling.innerText)\
    .then(()=&gt;{b.textContent='Copied'})\">Copy</button>";

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

fn link_target(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

pub fn to_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).flat_map(|event| -> Vec<Event<'_>> {
        match event {
            Event::Html(raw) | Event::InlineHtml(raw) => vec![Event::Text(raw)],
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                vec![Event::Start(Tag::Link { link_type, dest_url: link_target(dest_url), title, id })]
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                vec![Event::Start(Tag::Link { link_type, dest_url: link_target(dest_url), title, id })]
            }
            Event::End(TagEnd::Image) => vec![Event::End(TagEnd::Link)],
            Event::Start(Tag::CodeBlock(kind)) => {
                vec![Event::Html(CowStr::Borrowed(COPY_BUTTON)), Event::Start(Tag::CodeBlock(kind))]
            }
            Event::End(TagEnd::CodeBlock) => {
                vec![Event::End(TagEnd::CodeBlock), Event::Html(CowStr::Borrowed("</div>"))]
            }
            other => vec![other],
        }
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_in_the_text_is_shown_not_run() {
        let out = to_html("Hi <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n<b>bold?</b>");
        assert!(!out.contains("<script") && !out.contains("<img") && !out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn links_keep_only_safe_targets_and_images_become_links() {
        let out = to_html("[a](javascript:alert(1)) [b](https://example.com) ![c](https://example.com/x.png)");
        assert!(!out.contains("javascript:"), "{out}");
        assert!(out.contains("href=\"https://example.com\""), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("href=\"https://example.com/x.png\""), "{out}");
    }

    #[test]
    fn code_blocks_get_a_copy_button_and_stay_escaped() {
        let out = to_html("```rust\nlet a = \"<b>\";\n```\n\nand `inline`");
        assert!(out.contains("class=\"copy-code\""), "{out}");
        assert!(out.contains("<pre><code class=\"language-rust\">let a = \"&lt;b&gt;\";"), "{out}");
        assert!(out.contains("<code>inline</code>"), "{out}");
        assert!(out.matches("<div class=\"code-block\">").count() == out.matches("</div>").count());
    }

    #[test]
    fn ordinary_markdown_renders() {
        let out = to_html("# Title\n\n- one\n- **two**\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(out.contains("<h1>Title</h1>") && out.contains("<strong>two</strong>") && out.contains("<table>"));
    }
}
