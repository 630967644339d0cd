//! Server-sent events: a small incremental parser (bytes in, complete events out) and the writer.

use axum::body::Bytes;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into events; keeps partial input between calls. Bytes are decoded only once an
/// event is complete, so a character split across two network chunks stays whole.
#[derive(Default)]
pub struct Parser {
    buffer: Vec<u8>,
}

impl Parser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            let mut event = Event::default();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            if event.event.is_some() || !data.is_empty() {
                event.data = data.join("\n");
                events.push(event);
            }
        }
        events
    }
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
    fn a_character_split_between_chunks_stays_whole_and_crlf_is_accepted() {
        let mut p = Parser::default();
        let text = "data: {\"t\":\"你好\"}\r\n\r\n".as_bytes();
        let cut = text.iter().position(|b| *b >= 0x80).unwrap() + 1;
        assert!(p.push(&text[..cut]).is_empty());
        let events = p.push(&text[cut..]);
        assert_eq!(events, vec![Event { event: None, data: "{\"t\":\"你好\"}".into() }]);
    }
}
