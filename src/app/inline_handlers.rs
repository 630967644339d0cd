//! The few inline event handlers the pages carry, so they work before the page hydrates (and without
//! WebAssembly): copy buttons, delete confirmations, closing a menu. Each is one constant here, used by its
//! page, and the Content Security Policy allows exactly these by their SHA-256 (`'unsafe-hashes'`), so no
//! other inline handler (an injected one) can run.

/// The keys page: copies the new key (from `data-key`).
pub const COPY_NEW_KEY: &str =
    "const b=this;navigator.clipboard&&navigator.clipboard.writeText(b.dataset.key).then(()=>{b.textContent='Copied'});";

/// The referral page: copies the invitation link (from `data-link`), falling back to selecting it.
pub const COPY_INVITE_LINK: &str = "const b=this;const i=document.getElementById('invite-link');\
const done=()=>{b.textContent='Copied';setTimeout(()=>b.textContent='Copy link',2000)};\
if(navigator.clipboard){navigator.clipboard.writeText(b.dataset.link).then(done,()=>{i.select();document.execCommand('copy');done()})}\
else{i.select();document.execCommand('copy');done()}";

pub const CONFIRM_DELETE_KEY: &str = "return confirm('Delete this key? Programs using it stop working at once.')";

pub const CONFIRM_DELETE_CONVERSATION: &str = "return confirm('Delete this conversation and its messages?')";

pub const CLOSE_MENU: &str = "this.closest('details').open=false";

pub const CONFIRM_SIGN_OUT_OTHERS: &str = "return confirm('Sign out every other browser?')";

/// Every handler above.
pub const ALL: &[&str] = &[
    COPY_NEW_KEY,
    COPY_INVITE_LINK,
    CONFIRM_DELETE_KEY,
    CONFIRM_DELETE_CONVERSATION,
    CLOSE_MENU,
    CONFIRM_SIGN_OUT_OTHERS,
];
