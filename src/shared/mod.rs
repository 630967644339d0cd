//! Types and validation shared by the browser and the server: DTOs, `Email`, safe redirect paths, the wire error.
pub mod billing;
pub mod dto;
pub mod email;
pub mod error;
pub mod next_path;
pub mod referral;
