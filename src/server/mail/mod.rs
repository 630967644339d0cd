//! Outgoing email: SMTP through lettre when `SMTP_URL` is set, otherwise (dev mode only) the dev mailbox.
//! The mailer counts what it handed to the transport and what failed, for `/metrics` (every email
//! Gatehouse sends is a login email).
pub mod dev_mailbox;
pub mod login_email;

use crate::server::config::Settings;
use dev_mailbox::DevMailbox;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::atomic::{AtomicU64, Ordering};

/// A message ready to send, with both parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Mailer {
    transport: Transport,
    /// Emails the transport accepted (the SMTP server, or the dev mailbox).
    sent: AtomicU64,
    /// Emails that could not be built or that the transport refused.
    failed: AtomicU64,
}

enum Transport {
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
        let transport = if let Some(url) = &settings.smtp_url {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())?.build();
            let from: Mailbox = settings.mail_from.parse()?;
            Transport::Smtp { transport, from }
        } else if settings.dev_mailbox {
            Transport::DevMailbox(DevMailbox::default())
        } else {
            return Err(MailError::NotConfigured);
        };
        Ok(Self { transport, sent: AtomicU64::new(0), failed: AtomicU64::new(0) })
    }

    pub async fn send(&self, email: OutgoingEmail) -> Result<(), MailError> {
        let sent = self.transport.send(email).await;
        let counter = if sent.is_ok() { &self.sent } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        sent
    }

    pub fn dev_mailbox(&self) -> Option<&DevMailbox> {
        match &self.transport {
            Transport::DevMailbox(m) => Some(m),
            Transport::Smtp { .. } => None,
        }
    }

    /// Emails handed to the transport successfully since start.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Emails that could not be sent since start.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Transport {
    async fn send(&self, email: OutgoingEmail) -> Result<(), MailError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_mailer_counts_what_it_sent() {
        // Dev mode without SMTP: the dev mailbox is the transport.
        let settings = Settings::from_values(&std::collections::HashMap::new()).unwrap();
        let mailer = Mailer::from_settings(&settings).unwrap();
        let email =
            OutgoingEmail { to: "a@example.com".into(), subject: "s".into(), text: "t".into(), html: "h".into() };
        mailer.send(email.clone()).await.unwrap();
        mailer.send(email).await.unwrap();
        assert_eq!((mailer.sent(), mailer.failed()), (2, 0));
        assert_eq!(mailer.dev_mailbox().map(|m| m.list().len()), Some(2));
    }
}
