//! Outgoing email: SMTP through lettre when `SMTP_URL` is set, otherwise (dev mode only) the dev mailbox.
pub mod dev_mailbox;
pub mod login_email;

use crate::server::config::Settings;
use dev_mailbox::DevMailbox;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message ready to send, with both parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
    DevMailbox(DevMailbox),
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("no way to send email is configured (set SMTP_URL)")]
    NotConfigured,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> Result<Self, MailError> {
        if let Some(url) = &settings.smtp_url {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())?.build();
            let from: Mailbox = settings.mail_from.parse()?;
            Ok(Self::Smtp { transport, from })
        } else if settings.dev_mailbox {
            Ok(Self::DevMailbox(DevMailbox::default()))
        } else {
            Err(MailError::NotConfigured)
        }
    }

    pub async fn send(&self, email: OutgoingEmail) -> Result<(), MailError> {
        match self {
            Self::Smtp { transport, from } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(email.to.parse()?)
                    .subject(email.subject)
                    .multipart(MultiPart::alternative_plain_html(email.text, email.html))?;
                transport.send(message).await?;
                Ok(())
            }
            Self::DevMailbox(mailbox) => {
                mailbox.deliver(email);
                Ok(())
            }
        }
    }

    pub fn dev_mailbox(&self) -> Option<&DevMailbox> {
        match self {
            Self::DevMailbox(m) => Some(m),
            Self::Smtp { .. } => None,
        }
    }
}
