//! Domain logic with no web framework in it: money, prices, the charge of a call, the ledger, packages,
//! tiers, bills, web-chat conversations and the audit. Unit-tested directly; the pages and the proxy call into it.
pub mod account;
pub mod activity;
pub mod audit;
pub mod background_follows;
pub mod bills;
pub mod channels;
pub mod charge;
pub mod chat;
pub mod key_rights;
pub mod keys;
pub mod ledger;
pub mod ledger_memo;
pub mod money;
pub mod operator_actions;
pub mod operator_log;
pub mod packages;
pub mod price_versions;
pub mod pricing;
pub mod redemption;
pub mod referral;
pub mod refusals;
pub mod responses;
pub mod settle_batch;
pub mod tiers;
pub mod topups;
pub mod unsettled;
