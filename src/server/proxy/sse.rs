//! Server-sent events: a small incremental parser (bytes in, complete events out) and the writer.

use axum::body::Bytes;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into events; keeps partial input between calls. Bytes are decoded only once an
/// event is complete, so a character split across two network chunks stays whole. Each byte is looked at
/// a bounded number of times, however the events are cut into chunks.
#[derive(Default)]
pub struct Parser {
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no event boundary (`\n\n`).
    scanned: usize,
}

impl Parser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        let mut events = Vec::new();
        let mut start = 0;
        // A boundary may straddle the previous push: look again from one byte back.
        let mut from = self.scanned.saturating_sub(1).max(start);
        while let Some(at) = find_boundary(&self.buffer[from..]) {
            let end = from + at;
            if let Some(e) = parse_block(&self.buffer[start..end]) {
                events.push(e);
            }
            start = end + 2;
            from = start;
        }
        self.buffer.drain(..start);
        self.scanned = self.buffer.len();
        events
    }
}

fn find_boundary(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|b| *b == b'\n') {
        let at = i + at;
        if bytes.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn parse_block(block: &[u8]) -> Option<Event> {
    let block = String::from_utf8_lossy(block);
    let mut event = Event::default();
    let mut data: Option<String> = None;
    for line in block.split('\n') {
        if let Some(v) = line.strip_prefix("event:") {
            event.event = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            let v = v.strip_prefix(' ').unwrap_or(v);
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(v);
                }
                None => data = Some(v.to_string()),
            }
        }
    }
    if event.event.is_none() && data.is_none() {
        return None;
    }
    event.data = data.unwrap_or_default();
    Some(event)
}

/// One event as bytes: `event: NAME` (when named) and `data: ...`.
pub fn write(event: Option<&str>, data: &str) -> Bytes {
    match event {
        Some(name) => Bytes::from(format!("event: {name}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let mut p = Parser::default();
        assert!(p.push(b"event: message_start\ndata: {\"a\"").is_empty());
        let events = p.push(b":1}\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event.as_deref(), Some("message_start"));
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(events[2], Event { event: None, data: "[DONE]".into() });
        assert_eq!(write(Some("ping"), "{}"), Bytes::from("event: ping\ndata: {}\n\n"));
    }

    #[test]
    fn an_event_cut_into_single_bytes_is_found_once_and_whole() {
        let text = "event: a\ndata: 1\n\ndata: two\ndata: lines\n\n: comment\n\n";
        let mut p = Parser::default();
        let mut events = Vec::new();
        for b in text.as_bytes() {
            events.extend(p.push(std::slice::from_ref(b)));
        }
        assert_eq!(
            events,
            vec![Event { event: Some("a".into()), data: "1".into() }, Event { event: None, data: "two\nlines".into() }]
        );
    }

    #[test]
    fn a_character_split_between_chunks_stays_whole_and_crlf_is_accepted() {
        let mut p = Parser::default();
        let text = "data: {\"t\":\"你好\"}\r\n\r\n".as_bytes();
        let cut = text.iter().position(|b| *b >= 0x80).unwrap() + 1;
        assert!(p.push(&text[..cut]).is_empty());
        let events = p.push(&text[cut..]);
        assert_eq!(events, vec![Event { event: None, data: "{\"t\":\"你好\"}".into() }]);
    }
}
