//! One file per page: its component and its thin server functions.
pub mod admin;
pub mod billing;
pub mod chat;
pub mod confirm;
pub mod dev_mailbox;
pub mod docs;
pub mod home;
pub mod invite;
pub mod keys;
pub mod login;
pub mod not_found;
pub mod prices;
pub mod referral;
pub mod sessions;
