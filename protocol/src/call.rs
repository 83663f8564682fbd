//! Audio and video calls: the call state machine of one pairing, sans-IO.
//!
//! # Contract
//!
//! A call rides on the pairing's existing `RTCPeerConnection`: each side adds its microphone and camera tracks
//! when the call starts and removes them when it ends, and the perfect-negotiation pattern renegotiates by itself.
//! There is no second signaling path. What this module decides is the meaning of the `call-*` control frames
//! ([`PeerFrame::CallInvite`] and friends, JSON on the chat channel `twain`): who is ringing, when the call is
//! live, how it ended. It does no IO and reads no clock; like [`crate::transfer`], inputs arrive through methods
//! taking `now_ms` and what to do is drained with [`Call::poll_output`]:
//!
//! ```text
//!   person starts a call    -> start(call_id, video, local, now)   (after getUserMedia succeeded)
//!   person accepts/declines -> accept(local, now) / decline(now)  (accept after getUserMedia succeeded)
//!   person hangs up         -> hang_up(now)
//!   mute / camera / screen  -> set_local_media(local)
//!   a call-* frame arrives  -> handle_frame(&frame, now)          (other frames are ignored)
//!   the pairing is gone     -> peer_gone(now)                     (peer left or reloaded, socket replaced)
//!   the clock passes poll_timeout() -> handle_timeout(now)
//!   loop { match poll_output() {
//!       Some(Output::Send(f))      -> send f on the chat channel
//!       Some(Output::Event(e))     -> Ringing: show the prompt; Started: add tracks; Over: remove tracks,
//!                                     stop the devices, write e.history_line(..) to the history;
//!                                     RemoteMedia: show "muted" / "camera off"
//!       None                       -> done
//!   } }
//! ```
//!
//! # Rules
//!
//! - **One call at a time.** An invite while another call is ringing or live is answered `call-decline` with
//!   reason `busy`. Frames about any other call id are stale (a race with a hang-up) and are ignored.
//! - **Ringing ends.** The caller gives up after [`RING_TIMEOUT_MS`] (sends `call-end`: "no answer"); the callee
//!   drops the prompt after [`INCOMING_RING_TIMEOUT_MS`] even if that `call-end` never comes ("missed call").
//! - **Glare.** When both invite at once, each side receives an invite while its own rings. The invite with the
//!   smaller call id (byte order) wins on both sides: the side whose invite lost accepts the winner at once (its
//!   person asked for a call too), the winner ignores the losing invite and gets the `call-accept`. Equal ids
//!   (only a hostile peer) make both sides accept the same call, which is still consistent.
//! - **Media state.** Each side sends `call-media` when the call starts and on every change, so the other one can
//!   show "muted" or "camera off". Until the first one, the peer is assumed to send audio, and video if the call
//!   is a video call.
//! - **The pairing is the call's lifetime.** A call cannot survive a new peer connection (the peer reloaded, the
//!   socket was replaced): [`Call::peer_gone`] ends it on this side; the other side does the same.
//!
//! Nothing here panics on peer input; every `call-*` frame is validated by [`PeerFrame::decode`] first.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::wire::PeerFrame;
use crate::ProtocolError;

/// Longest call id, in bytes (`[A-Za-z0-9_-]`, like message ids).
pub const MAX_CALL_ID_LEN: usize = 64;
/// How long an outgoing call rings before the caller gives up.
pub const RING_TIMEOUT_MS: u64 = 45_000;
/// How long an incoming call rings before the callee gives up without hearing from the caller. A little longer
/// than [`RING_TIMEOUT_MS`], so the caller's `call-end` normally arrives first.
pub const INCOMING_RING_TIMEOUT_MS: u64 = RING_TIMEOUT_MS + 5_000;

/// Checks a call id: 1..=[`MAX_CALL_ID_LEN`] bytes of `[A-Za-z0-9_-]`.
pub fn validate_call_id(id: &str) -> Result<(), ProtocolError> {
    crate::ids::check_token("call id", id, MAX_CALL_ID_LEN)
}

/// What one side is sending in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    /// The microphone is on (not muted).
    pub audio: bool,
    /// Some video is being sent (the camera, or the screen when `screen`).
    pub video: bool,
    /// The video being sent is a shared screen instead of the camera.
    pub screen: bool,
}

impl MediaState {
    /// Microphone on, camera as given, no screen.
    pub const fn new(audio: bool, video: bool) -> Self {
        MediaState {
            audio,
            video,
            screen: false,
        }
    }

    /// A screen is video: `screen` without `video` is contradictory.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.screen && !self.video {
            return Err(ProtocolError::Invalid(
                "the call media state shares a screen without sending video".into(),
            ));
        }
        Ok(())
    }
}

/// Why the callee did not take a call (`call-decline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclineReason {
    /// The person pressed "Decline".
    #[default]
    Declined,
    /// Another call is ringing or live on that side.
    Busy,
    /// That side has no usable camera or microphone (missing, or permission refused).
    Unavailable,
    /// A reason added by a later version.
    #[serde(other)]
    Other,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A live call ended after `duration_ms`. `by_me`: this side hung up; `peer_gone`: the pairing went away.
    Ended {
        duration_ms: u64,
        by_me: bool,
        peer_gone: bool,
    },
    /// This side cancelled its own call before an answer.
    Cancelled,
    /// This side's call rang for [`RING_TIMEOUT_MS`] without an answer.
    NoAnswer,
    /// An incoming call stopped ringing before this side answered (cancelled, timed out, peer gone).
    Missed,
    /// The callee declined. `by_me`: this side is the callee.
    Declined { by_me: bool },
    /// The callee could not take the call (busy elsewhere, or no camera/microphone).
    Refused(DeclineReason),
    /// This side's call was ringing when the pairing went away.
    NotConnected,
}

/// What the client must react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// The other person is calling: show the prompt (Accept / Decline).
    Ringing { video: bool },
    /// The call is live on both sides: add this side's tracks to the peer connection now.
    Started { video: bool },
    /// The call is over: remove the tracks, stop the devices, write the history line.
    Over { video: bool, ending: Ending },
    /// The other side's microphone / camera / screen changed.
    RemoteMedia(MediaState),
}

impl CallEvent {
    /// The line the chat history shows for this event, if any. `peer` is the other person's name.
    pub fn history_line(&self, peer: &str) -> Option<String> {
        match *self {
            CallEvent::Ringing { .. } | CallEvent::RemoteMedia(_) => None,
            CallEvent::Started { video: true } => Some("Video call started".into()),
            CallEvent::Started { video: false } => Some("Audio call started".into()),
            CallEvent::Over { ending, .. } => Some(match ending {
                Ending::Ended { duration_ms, .. } => {
                    format!("Call ended · {}", format_duration(duration_ms))
                }
                Ending::Cancelled => "Call cancelled".into(),
                Ending::NoAnswer => format!("No answer from {peer}"),
                Ending::Missed => format!("Missed call from {peer}"),
                Ending::Declined { .. } => "Call declined".into(),
                Ending::Refused(DeclineReason::Busy) => format!("{peer} is busy in another call"),
                Ending::Refused(DeclineReason::Unavailable) => {
                    format!("{peer} couldn't join: no camera or microphone available")
                }
                Ending::Refused(_) => format!("{peer} couldn't take the call"),
                Ending::NotConnected => "Call not connected".into(),
            }),
        }
    }
}

/// "0:07", "2:31", "1:02:03" (hours only when needed). Rounds down to whole seconds.
pub fn format_duration(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// What the client must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this frame to the other browser on the chat channel.
    Send(PeerFrame),
    /// Update the UI / media (see [`CallEvent`]).
    Event(CallEvent),
}

/// Where the current call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// This side invited; waiting for an answer since `since_ms`.
    Outgoing { since_ms: u64 },
    /// The other side invited; ringing here since `since_ms`.
    Incoming { since_ms: u64 },
    /// Live since `started_ms`.
    Active { started_ms: u64 },
}

/// The current call, for the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_id: String,
    pub video: bool,
    pub phase: Phase,
    /// What this side sends (as last set).
    pub local: MediaState,
    /// What the other side says it sends.
    pub remote: MediaState,
}

/// The call state of one pairing: idle, or one call ringing or live.
#[derive(Debug, Default)]
pub struct Call {
    current: Option<CallInfo>,
    out: VecDeque<Output>,
}

fn invalid(what: &str) -> ProtocolError {
    ProtocolError::Invalid(what.into())
}

impl Call {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current call, if one is ringing or live.
    pub fn current(&self) -> Option<&CallInfo> {
        self.current.as_ref()
    }

    pub fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// The next thing to do, or `None` when everything was handed out.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next (a ringing call gives up), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.current.as_ref()?.phase {
            Phase::Outgoing { since_ms } => Some(since_ms + RING_TIMEOUT_MS),
            Phase::Incoming { since_ms } => Some(since_ms + INCOMING_RING_TIMEOUT_MS),
            Phase::Active { .. } => None,
        }
    }

    /// This side invites the other one. `call_id` comes from the caller's randomness (16 random bytes,
    /// base64url); `local` is what the devices obtained give.
    pub fn start(
        &mut self,
        call_id: String,
        video: bool,
        local: MediaState,
        now_ms: u64,
    ) -> Result<(), ProtocolError> {
        validate_call_id(&call_id)?;
        local.validate()?;
        if self.current.is_some() {
            return Err(invalid("a call is already ringing or in progress"));
        }
        self.send(PeerFrame::CallInvite {
            call_id: call_id.clone(),
            video,
        });
        self.current = Some(CallInfo {
            call_id,
            video,
            phase: Phase::Outgoing { since_ms: now_ms },
            local,
            remote: MediaState::new(true, video),
        });
        Ok(())
    }

    /// This side accepts the ringing incoming call.
    pub fn accept(&mut self, local: MediaState, now_ms: u64) -> Result<(), ProtocolError> {
        local.validate()?;
        match &mut self.current {
            Some(c) if matches!(c.phase, Phase::Incoming { .. }) => {
                c.local = local;
                let id = c.call_id.clone();
                self.send(PeerFrame::CallAccept { call_id: id });
                self.go_live(now_ms);
                Ok(())
            }
            _ => Err(invalid("there is no incoming call to accept")),
        }
    }

    /// This side declines the ringing incoming call, for `reason`.
    pub fn decline(&mut self, reason: DeclineReason, _now_ms: u64) -> Result<(), ProtocolError> {
        match &self.current {
            Some(c) if matches!(c.phase, Phase::Incoming { .. }) => {
                let call_id = c.call_id.clone();
                self.send(PeerFrame::CallDecline { call_id, reason });
                let ending = match reason {
                    DeclineReason::Declined => Ending::Declined { by_me: true },
                    // Busy never comes from the person; Unavailable: this side could not get its devices.
                    _ => Ending::Missed,
                };
                self.finish(ending);
                Ok(())
            }
            _ => Err(invalid("there is no incoming call to decline")),
        }
    }

    /// This side hangs up: cancels its ringing call, ends the live call, or declines the incoming one.
    pub fn hang_up(&mut self, now_ms: u64) -> Result<(), ProtocolError> {
        let Some(c) = &self.current else {
            return Err(invalid("there is no call to hang up"));
        };
        let call_id = c.call_id.clone();
        match c.phase {
            Phase::Incoming { .. } => return self.decline(DeclineReason::Declined, now_ms),
            Phase::Outgoing { .. } => {
                self.send(PeerFrame::CallEnd { call_id });
                self.finish(Ending::Cancelled);
            }
            Phase::Active { started_ms } => {
                self.send(PeerFrame::CallEnd { call_id });
                self.finish(Ending::Ended {
                    duration_ms: now_ms.saturating_sub(started_ms),
                    by_me: true,
                    peer_gone: false,
                });
            }
        }
        Ok(())
    }

    /// This side's microphone / camera / screen changed. Told to the other side while the call is live (and when
    /// it starts).
    pub fn set_local_media(&mut self, local: MediaState) -> Result<(), ProtocolError> {
        local.validate()?;
        let Some(c) = &mut self.current else {
            return Err(invalid("there is no call"));
        };
        if c.local == local {
            return Ok(());
        }
        c.local = local;
        if matches!(c.phase, Phase::Active { .. }) {
            let frame = media_frame(c);
            self.send(frame);
        }
        Ok(())
    }

    /// A frame from the other browser (already decoded and validated). Frames that are not `call-*` are ignored.
    pub fn handle_frame(&mut self, frame: &PeerFrame, now_ms: u64) {
        match frame {
            PeerFrame::CallInvite { call_id, video } => self.on_invite(call_id, *video, now_ms),
            PeerFrame::CallAccept { call_id } if self.is_ringing_out(call_id) => {
                self.go_live(now_ms)
            }
            PeerFrame::CallDecline { call_id, reason } if self.is_ringing_out(call_id) => self
                .finish(match reason {
                    DeclineReason::Declined => Ending::Declined { by_me: false },
                    other => Ending::Refused(*other),
                }),
            PeerFrame::CallEnd { call_id } => {
                let Some(c) = self.current.as_ref().filter(|c| &c.call_id == call_id) else {
                    return;
                };
                let ending = match c.phase {
                    Phase::Incoming { .. } => Ending::Missed,
                    // Only a confused peer ends a call it was never told about: treat it as a refusal.
                    Phase::Outgoing { .. } => Ending::Declined { by_me: false },
                    Phase::Active { started_ms } => Ending::Ended {
                        duration_ms: now_ms.saturating_sub(started_ms),
                        by_me: false,
                        peer_gone: false,
                    },
                };
                self.finish(ending);
            }
            PeerFrame::CallMedia {
                call_id,
                audio,
                video,
                screen,
            } => {
                let media = MediaState {
                    audio: *audio,
                    video: *video,
                    screen: *screen,
                };
                if let Some(c) = self.current.as_mut().filter(|c| &c.call_id == call_id) {
                    if media.validate().is_ok() && c.remote != media {
                        c.remote = media;
                        self.out
                            .push_back(Output::Event(CallEvent::RemoteMedia(media)));
                    }
                }
            }
            _ => {}
        }
    }

    /// The pairing is gone (the peer left or reloaded, or either socket was replaced): the call ends here.
    pub fn peer_gone(&mut self, now_ms: u64) {
        let Some(c) = &self.current else { return };
        let ending = match c.phase {
            Phase::Incoming { .. } => Ending::Missed,
            Phase::Outgoing { .. } => Ending::NotConnected,
            Phase::Active { started_ms } => Ending::Ended {
                duration_ms: now_ms.saturating_sub(started_ms),
                by_me: false,
                peer_gone: true,
            },
        };
        self.finish(ending);
    }

    /// The clock reached [`Self::poll_timeout`]: a call that rang too long stops ringing.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let Some(c) = &self.current else { return };
        match (c.phase, self.poll_timeout()) {
            (Phase::Outgoing { .. }, Some(due)) if now_ms >= due => {
                let call_id = c.call_id.clone();
                self.send(PeerFrame::CallEnd { call_id });
                self.finish(Ending::NoAnswer);
            }
            (Phase::Incoming { .. }, Some(due)) if now_ms >= due => self.finish(Ending::Missed),
            _ => {}
        }
    }

    fn on_invite(&mut self, call_id: &str, video: bool, now_ms: u64) {
        let Some(c) = &self.current else {
            self.current = Some(CallInfo {
                call_id: call_id.to_string(),
                video,
                phase: Phase::Incoming { since_ms: now_ms },
                local: MediaState::new(true, video),
                remote: MediaState::new(true, video),
            });
            self.out
                .push_back(Output::Event(CallEvent::Ringing { video }));
            return;
        };
        if c.call_id == call_id && !matches!(c.phase, Phase::Outgoing { .. }) {
            return; // a repeat of the invite already ringing or live
        }
        match c.phase {
            // Glare: both invited at once. The smaller id wins on both sides.
            Phase::Outgoing { .. } if call_id.as_bytes() <= c.call_id.as_bytes() => {
                let local = c.local;
                self.current = Some(CallInfo {
                    call_id: call_id.to_string(),
                    video,
                    phase: Phase::Incoming { since_ms: now_ms },
                    local,
                    remote: MediaState::new(true, video),
                });
                let _ = self.accept(local, now_ms);
            }
            // Our invite wins: the other side accepts it.
            Phase::Outgoing { .. } => {}
            Phase::Incoming { .. } | Phase::Active { .. } => self.send(PeerFrame::CallDecline {
                call_id: call_id.to_string(),
                reason: DeclineReason::Busy,
            }),
        }
    }

    /// True if `call_id` is this side's own call, still ringing.
    fn is_ringing_out(&self, call_id: &str) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.call_id == call_id && matches!(c.phase, Phase::Outgoing { .. }))
    }

    fn go_live(&mut self, now_ms: u64) {
        let Some(c) = &mut self.current else { return };
        c.phase = Phase::Active { started_ms: now_ms };
        let video = c.video;
        let frame = media_frame(c);
        self.send(frame);
        self.out
            .push_back(Output::Event(CallEvent::Started { video }));
    }

    fn finish(&mut self, ending: Ending) {
        if let Some(c) = self.current.take() {
            self.out.push_back(Output::Event(CallEvent::Over {
                video: c.video,
                ending,
            }));
        }
    }

    fn send(&mut self, frame: PeerFrame) {
        self.out.push_back(Output::Send(frame));
    }
}

fn media_frame(c: &CallInfo) -> PeerFrame {
    PeerFrame::CallMedia {
        call_id: c.call_id.clone(),
        audio: c.local.audio,
        video: c.local.video,
        screen: c.local.screen,
    }
}

/// True for the `call-*` frames this module handles.
pub fn is_call_frame(frame: &PeerFrame) -> bool {
    matches!(
        frame,
        PeerFrame::CallInvite { .. }
            | PeerFrame::CallAccept { .. }
            | PeerFrame::CallDecline { .. }
            | PeerFrame::CallEnd { .. }
            | PeerFrame::CallMedia { .. }
    )
}

#[cfg(test)]
mod tests;
