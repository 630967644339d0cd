//! Who the person is: accounts, magic-link login, browser sessions.
pub mod magic_link;
pub mod send_limits;
pub mod session;
pub mod user_agent;
pub mod users;
