//! Browser networking glue (web-sys): the signaling WebSocket, the RTCPeerConnection and the session that
//! combines them. Every `Closure` and `Rc<RefCell<..>>` of the client lives here.

pub mod media;
pub mod peer;
pub mod session;
pub mod signaling;
