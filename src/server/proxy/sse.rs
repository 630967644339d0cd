//! Server-sent events: a small incremental parser (bytes in, complete events out) and the writer.

use axum::body::Bytes;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into events; keeps partial input between calls.
#[derive(Default)]
pub struct Parser {
    buffer: String,
}

impl Parser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        if self.buffer.contains('\r') {
            self.buffer = self.buffer.replace("\r\n", "\n");
        }
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
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
}
