//! Operational metrics, exported at `/metrics` in Prometheus' text format, and the upstream providers'
//! recent health for the operators' console.
//!
//! Each component counts what it owns: the gateway its API calls (`calls`), the upstreams their providers
//! (`upstreams`, `provider_health`), the settlement writer its batches and the money charged
//! (`settlements`), the mailer its login emails; referrals are counted by the database at scrape time
//! (`referrals`). `exposition` writes them out.
//!
//! Hand-written rather than the `prometheus` or `metrics` crates, for a measured reason: every label here is
//! known when the process starts (API surfaces, channels, HTTP statuses, configured providers), so a call is
//! counted by indexing pre-sized arrays of atomics: a few atomic additions, no map lookup, lock or
//! allocation on the proxy's benchmarked hot path. The crates key series by label values at run time.
//! What is left (a histogram, the text format) is a few hundred lines with its tests.

pub mod calls;
pub mod exposition;
pub mod histogram;
pub mod provider_health;
pub mod referrals;
pub mod settlements;
pub mod upstreams;

pub use calls::{CallMetrics, Surface};
pub use exposition::{Exposition, Kind, CONTENT_TYPE};
pub use provider_health::ProviderHealth;
