//! One API call from start to finish, in named stages shared by every API surface and web chat:
//! read the request (`read`), identify the key (`identify`), admit it (`admit`: price, channel, limits, rate tier, the hold), relay it
//! to the upstream and back (`relay`; each surface reads its own events), meter it (`metering`) and settle it
//! (`settle`) exactly once on every exit path, within the request's limits. `failures` is how errors reach
//! the caller; `observe` is what each call tells the metrics; `charged` runs a surface's call. The surfaces
//! themselves are `messages`, `chat_completions`, `responses`, `embeddings`, `completions` and `speech`.

mod admit;
mod failures;
mod identify;
mod observe;
mod read;
mod relay;
mod settle;

pub use admit::{
    admit, request_id_of, Admitted, Ask, ImageAsk, KeyRef, HOLD_TTL_MS, MAX_CALL_DEADLINE_SECS, STALE_HOLD_MS,
};
pub use failures::{internal, not_json, unavailable, upstream_error};
pub use identify::{authenticate, presented_key};
pub use observe::{answered, StreamWatch};
pub use read::read_request;
pub use relay::{charged, json_answer, open_stream, relay_stream, send_upstream, uncancellable, Relay, CALLER_STALL};
pub use settle::{end_stream, release, settle, settle_whole};

use super::dialect::Dialect;

/// Which dialect answers a model: Claude models go to Anthropic, everything else to OpenAI.
pub fn provider_dialect(model: &str) -> Dialect {
    if crate::server::domain::pricing::base_model_id(model).starts_with("claude") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}
