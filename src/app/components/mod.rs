//! Pieces shared by pages: the layout (header, navigation, account box, footer) and the browser end of
//! a streaming chat reply, an amount of money, the contact-support line.
pub mod error_text;
pub mod layout;
pub mod reply_stream;
pub mod support;
pub mod usd;
