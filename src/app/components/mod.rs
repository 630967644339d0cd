//! Pieces shared by pages: the layout (header, navigation, account box, footer).
pub mod layout;
