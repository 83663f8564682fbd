//! Twain's browser app: a Yew (CSR) single-page app compiled to wasm32.
//!
//! Contract: the signaling worker only introduces the two browsers; chat travels over a WebRTC data channel and
//! is kept only in this browser's IndexedDB ([`storage`], the only module that touches it). Everything that
//! talks to the network lives in [`net`]; the room page's state is a pure reducer in [`state`]. Text from the
//! other browser is untrusted and is always rendered as text, never as HTML.

pub mod app;
pub mod call;
pub mod components;
pub mod export;
pub mod files;
pub mod identity;
pub mod linkify;
pub mod names;
pub mod net;
pub mod notify;
pub mod random;
pub mod state;
pub mod storage;
pub mod time;

/// Mounts the app on `<body>`.
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}
