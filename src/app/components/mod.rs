//! Pieces shared by pages: the layout (header, navigation, account box, footer) and the browser end of
//! a streaming chat reply, an amount of money.
pub mod layout;
pub mod reply_stream;
pub mod usd;
