//! Who the person is: accounts, magic-link login, browser sessions.
pub mod magic_link;
pub mod session;
pub mod users;
