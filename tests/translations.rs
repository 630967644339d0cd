//! The translations in locales/: every key of one language is in the others, nothing is left empty, each
//! sentence keeps its slots (`{{ name }}` for views, `{name}` for server text) and its markup tags, and
//! Chinese and Japanese sentences are not English ones copied over. A missing key fails here (the build
//! would only warn and fall back to English).

use serde_json::Value;
use std::collections::BTreeMap;

const LANGUAGES: [&str; 3] = ["en", "zh", "ja"];
const DATE_PATTERNS: [&str; 2] = ["time.date", "time.date_time_utc"];

fn load(lang: &str) -> BTreeMap<String, String> {
    let path = format!("{}/locales/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut flat = BTreeMap::new();
    flatten("", &value, &mut flat);
    flat
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => panic!("{prefix}: only strings and objects are expected, found {other}"),
    }
}

/// The slots and tags of a sentence, sorted: `{{ n }}`, `{n}`, `<a>`.
fn shape(sentence: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = sentence;
    while let Some(i) = rest.find(['{', '<']) {
        let tail = &rest[i..];
        let (token, len) = if let Some(inner) = tail.strip_prefix("{{") {
            match inner.find("}}") {
                Some(end) => (format!("{{{{{}}}}}", inner[..end].trim()), end + 4),
                None => break,
            }
        } else {
            let close = if tail.starts_with('{') { '}' } else { '>' };
            match tail.find(close) {
                Some(end) => (tail[..=end].to_string(), end + 1),
                None => break,
            }
        };
        found.push(token);
        rest = &tail[len..];
    }
    found.sort();
    found
}

/// Words of three or more Latin letters in a row (such as "Log in to see").
fn english_words(sentence: &str) -> usize {
    sentence.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 2).count()
}

#[test]
fn every_language_has_every_key_and_no_other() {
    let en = load("en");
    assert!(en.len() > 100, "locales/en.json holds {} keys", en.len());
    for lang in &LANGUAGES[1..] {
        let other = load(lang);
        let missing: Vec<_> = en.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<_> = other.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing.is_empty(), "locales/{lang}.json lacks {missing:?}");
        assert!(extra.is_empty(), "locales/{lang}.json has keys English does not: {extra:?}");
    }
}

#[test]
fn sentences_are_written_and_keep_their_slots_and_tags() {
    let en = load("en");
    for lang in LANGUAGES {
        let this = load(lang);
        for (key, sentence) in &this {
            assert!(!sentence.trim().is_empty(), "{lang}: {key} is empty");
            // Date patterns pick their own parts (`{mm}` is the zero-padded month, `{m}` the plain one).
            if let Some(english) = en.get(key).filter(|_| !DATE_PATTERNS.contains(&key.as_str())) {
                assert_eq!(shape(sentence), shape(english), "{lang}: {key} has other slots or tags than English");
            }
        }
    }
}

#[test]
fn chinese_and_japanese_sentences_are_not_english_copied_over() {
    let en = load("en");
    for lang in &LANGUAGES[1..] {
        let copied: Vec<_> = load(lang)
            .into_iter()
            .filter(|(key, sentence)| en.get(key) == Some(sentence) && english_words(sentence) >= 3)
            .map(|(key, _)| key)
            .collect();
        assert!(copied.is_empty(), "locales/{lang}.json repeats English sentences: {copied:?}");
    }
}

#[test]
fn no_slot_comes_before_a_sentences_first_tag_and_no_key_looks_like_a_plural_form() {
    // leptos_i18n 0.6 reads the text before a sentence's first tag as plain text: a `{{ slot }}` there would
    // be shown as written. And it reads keys ending in a plural category as forms of one plural key.
    for lang in LANGUAGES {
        for (key, sentence) in load(lang) {
            if let Some(tag) = sentence.find('<') {
                assert!(!sentence[..tag].contains("{{"), "{lang}: {key} has a slot before its first tag");
            }
            let last = key.rsplit(['.', '_']).next().unwrap_or("");
            assert!(
                !["zero", "one", "two", "few", "many", "other"].contains(&last) || !key.contains('_'),
                "{lang}: {key} ends like a plural form"
            );
        }
    }
}

#[test]
fn the_shape_of_a_sentence_is_its_slots_and_tags() {
    assert_eq!(shape("Expires in {{ days }} days, <a>see</a> {name}"), ["</a>", "<a>", "{name}", "{{days}}"]);
    assert_eq!(english_words("Log in to see"), 4);
    assert_eq!(english_words("登录 API 密钥"), 1);
}
