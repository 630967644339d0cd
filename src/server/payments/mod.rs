//! Taking money in: Stripe Checkout (session creation, signed webhooks) and dev mode's labelled test
//! payments, which go through the same webhook code with a locally signed event.
pub mod stripe;
pub mod stripe_signature;
pub mod topup_flow;
