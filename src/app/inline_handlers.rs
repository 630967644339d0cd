//! The few inline event handlers the pages carry, so they work before the page hydrates (and without
//! WebAssembly): copy buttons, delete confirmations, closing a menu. Each is one constant here, used by its
//! page, and the Content Security Policy allows exactly these by their SHA-256 (`'unsafe-hashes'`), so no
//! other inline handler (an injected one) can run. Their words come from the element's `data-*` attributes,
//! written by the page in its language, so one handler serves every language.

/// The keys page: copies the new key (from `data-key`), then says `data-copied-label`.
pub const COPY_NEW_KEY: &str =
    "const b=this;navigator.clipboard&&navigator.clipboard.writeText(b.dataset.key).then(()=>{b.textContent=b.dataset.copiedLabel});";

/// The referral page: copies the invitation link (from `data-link`), falling back to selecting it; says
/// `data-copied-label`, then `data-copy-label` again.
pub const COPY_INVITE_LINK: &str = "const b=this;const i=document.getElementById('invite-link');\
const done=()=>{b.textContent=b.dataset.copiedLabel;setTimeout(()=>b.textContent=b.dataset.copyLabel,2000)};\
if(navigator.clipboard){navigator.clipboard.writeText(b.dataset.link).then(done,()=>{i.select();document.execCommand('copy');done()})}\
else{i.select();document.execCommand('copy');done()}";

/// A form that asks first (deleting a key or a conversation, signing out other browsers): the question is the
/// form's `data-confirm`.
pub const CONFIRM: &str = "return confirm(this.dataset.confirm)";

pub const CLOSE_MENU: &str = "this.closest('details').open=false";

/// Every handler above.
pub const ALL: &[&str] = &[COPY_NEW_KEY, COPY_INVITE_LINK, CONFIRM, CLOSE_MENU];
