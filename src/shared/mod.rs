//! Types and validation shared by the browser and the server: DTOs, `Email`, safe redirect paths,
//! the wire error, and Markdown rendering for chat.
pub mod admin;
pub mod billing;
pub mod dto;
pub mod email;
pub mod error;
pub mod markdown;
pub mod next_path;
pub mod numbers;
pub mod prices;
pub mod referral;
pub mod text;
