//! The browser's end of a web-chat reply: an `EventSource` on `/chat/replies/{id}/stream` whose JSON
//! events ([`ChatEvent`]) are handed to the page. On the server this is an empty shell (pages render there,
//! but streams only open in the browser).

use crate::shared::dto::ChatEvent;
use leptos::prelude::*;

/// Where the page keeps its open stream: browser-thread storage in the browser (JS objects cannot move
/// between threads), ordinary storage on the server (pages render on several threads; nothing opens there).
#[cfg(feature = "hydrate")]
pub type StreamSlot = StoredValue<Option<ReplyStream>, LocalStorage>;
#[cfg(not(feature = "hydrate"))]
pub type StreamSlot = StoredValue<Option<ReplyStream>>;

pub fn stream_slot() -> StreamSlot {
    #[cfg(feature = "hydrate")]
    return StoredValue::new_local(None);
    #[cfg(not(feature = "hydrate"))]
    return StoredValue::new(None);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::ChatEvent;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    pub struct ReplyStream {
        source: EventSource,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    }

    impl ReplyStream {
        /// Opens the stream; `on_event` gets each event, `on_lost` a connection lost before the end.
        pub fn open(
            reply_id: i64,
            mut on_event: impl FnMut(ChatEvent) + 'static,
            mut on_lost: impl FnMut() + 'static,
        ) -> Option<Self> {
            let source = EventSource::new(&format!("/chat/replies/{reply_id}/stream")).ok()?;
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(ev) = e.data().as_string().and_then(|t| serde_json::from_str::<ChatEvent>(&t).ok()) {
                    on_event(ev);
                }
            });
            source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            let closer = source.clone();
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
                // EventSource would reconnect on its own; a reply is asked for once, so stop here.
                closer.close();
                on_lost();
            });
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            Some(Self { source, _on_message: on_message, _on_error: on_error })
        }

        pub fn close(&self) {
            self.source.close();
        }
    }
}

#[cfg(feature = "hydrate")]
pub use browser::ReplyStream;

#[cfg(not(feature = "hydrate"))]
pub struct ReplyStream;

#[cfg(not(feature = "hydrate"))]
impl ReplyStream {
    pub fn open(
        _reply_id: i64,
        _on_event: impl FnMut(ChatEvent) + 'static,
        _on_lost: impl FnMut() + 'static,
    ) -> Option<Self> {
        None
    }

    pub fn close(&self) {}
}
