//! The call frames on the wire and the call state machine, driven as two peers over a perfect in-order channel.

use super::*;
use crate::wire::MAX_PEER_FRAME_BYTES;

const A_ID: &str = "aaaaaaaaaaaaaaaaaaaaaa";
const B_ID: &str = "bbbbbbbbbbbbbbbbbbbbbb";
const T0: u64 = 1_700_000_000_000;

const MIC_CAM: MediaState = MediaState::new(true, true);
const MIC: MediaState = MediaState::new(true, false);

/// Two browsers: what each one has seen.
struct Pair {
    a: Call,
    b: Call,
    a_events: Vec<CallEvent>,
    b_events: Vec<CallEvent>,
    /// Frames in flight, for tests that need to hold them back (glare).
    to_a: VecDeque<PeerFrame>,
    to_b: VecDeque<PeerFrame>,
}

impl Pair {
    fn new() -> Self {
        Pair {
            a: Call::new(),
            b: Call::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            to_a: VecDeque::new(),
            to_b: VecDeque::new(),
        }
    }

    /// Collects both sides' outputs into the in-flight queues and event lists, without delivering.
    fn collect(&mut self) {
        while let Some(o) = self.a.poll_output() {
            match o {
                Output::Send(f) => self.to_b.push_back(through_the_wire(&f)),
                Output::Event(e) => self.a_events.push(e),
            }
        }
        while let Some(o) = self.b.poll_output() {
            match o {
                Output::Send(f) => self.to_a.push_back(through_the_wire(&f)),
                Output::Event(e) => self.b_events.push(e),
            }
        }
    }

    /// Delivers every frame in flight, both ways, until nothing moves.
    fn settle(&mut self, now: u64) {
        loop {
            self.collect();
            if self.to_a.is_empty() && self.to_b.is_empty() {
                return;
            }
            while let Some(f) = self.to_b.pop_front() {
                self.b.handle_frame(&f, now);
            }
            while let Some(f) = self.to_a.pop_front() {
                self.a.handle_frame(&f, now);
            }
        }
    }

    fn take_events(&mut self) -> (Vec<CallEvent>, Vec<CallEvent>) {
        (
            std::mem::take(&mut self.a_events),
            std::mem::take(&mut self.b_events),
        )
    }

    /// A calls B, B accepts: a live video call.
    fn live(now: u64) -> Pair {
        let mut p = Pair::new();
        p.a.start(A_ID.into(), true, MIC_CAM, now).unwrap();
        p.settle(now);
        p.b.accept(MIC_CAM, now + 1000).unwrap();
        p.settle(now + 1000);
        p.take_events();
        p
    }
}

/// Every frame goes through its JSON form and the validating decoder, like on the data channel.
fn through_the_wire(frame: &PeerFrame) -> PeerFrame {
    PeerFrame::decode(&frame.encode()).expect("frames the machine sends are valid")
}

fn over(video: bool, ending: Ending) -> CallEvent {
    CallEvent::Over { video, ending }
}

fn ended(duration_ms: u64, by_me: bool, peer_gone: bool) -> Ending {
    Ending::Ended {
        duration_ms,
        by_me,
        peer_gone,
    }
}

// ---- the frames on the wire ------------------------------------------------------------------------------

#[test]
fn call_frames_round_trip() {
    let frames = [
        PeerFrame::CallInvite {
            call_id: A_ID.into(),
            video: true,
        },
        PeerFrame::CallInvite {
            call_id: "x".into(),
            video: false,
        },
        PeerFrame::CallAccept {
            call_id: A_ID.into(),
        },
        PeerFrame::CallDecline {
            call_id: A_ID.into(),
            reason: DeclineReason::Declined,
        },
        PeerFrame::CallDecline {
            call_id: A_ID.into(),
            reason: DeclineReason::Busy,
        },
        PeerFrame::CallDecline {
            call_id: A_ID.into(),
            reason: DeclineReason::Unavailable,
        },
        PeerFrame::CallEnd {
            call_id: "a".repeat(MAX_CALL_ID_LEN),
        },
        PeerFrame::CallMedia {
            call_id: A_ID.into(),
            audio: false,
            video: true,
            screen: true,
        },
        PeerFrame::CallMedia {
            call_id: A_ID.into(),
            audio: true,
            video: false,
            screen: false,
        },
    ];
    for f in frames {
        assert_eq!(PeerFrame::decode(&f.encode()).unwrap(), f);
        assert!(is_call_frame(&f));
        assert_eq!(f.transfer_id(), None);
    }
    assert!(!is_call_frame(&PeerFrame::Typing { active: true }));
}

#[test]
fn call_frames_wire_format() {
    assert_eq!(
        PeerFrame::CallInvite {
            call_id: "c1".into(),
            video: true
        }
        .encode(),
        r#"{"type":"call-invite","call_id":"c1","video":true}"#
    );
    assert_eq!(
        PeerFrame::CallMedia {
            call_id: "c1".into(),
            audio: false,
            video: true,
            screen: false
        }
        .encode(),
        r#"{"type":"call-media","call_id":"c1","audio":false,"video":true,"screen":false}"#
    );
    assert_eq!(
        PeerFrame::CallDecline {
            call_id: "c1".into(),
            reason: DeclineReason::Unavailable
        }
        .encode(),
        r#"{"type":"call-decline","call_id":"c1","reason":"unavailable"}"#
    );
    // A decline without a reason is a plain decline; a reason from a later version still reads.
    assert_eq!(
        PeerFrame::decode(r#"{"type":"call-decline","call_id":"c1"}"#).unwrap(),
        PeerFrame::CallDecline {
            call_id: "c1".into(),
            reason: DeclineReason::Declined
        }
    );
    assert_eq!(
        PeerFrame::decode(r#"{"type":"call-decline","call_id":"c1","reason":"driving"}"#).unwrap(),
        PeerFrame::CallDecline {
            call_id: "c1".into(),
            reason: DeclineReason::Other
        }
    );
}

/// Decoding `text` fails with an error whose sentence contains `expected`.
fn check_refused(text: &str, expected: &str) {
    let err = PeerFrame::decode(text).unwrap_err();
    assert!(err.to_string().contains(expected), "{text}: {err}");
}

#[test]
fn hostile_call_frames_are_refused() {
    for id in [
        "",
        "a b",
        "../../etc/passwd",
        "<script>",
        "é",
        "a\u{0}",
        &"a".repeat(MAX_CALL_ID_LEN + 1),
    ] {
        let id = serde_json::to_string(id).unwrap();
        for text in [
            format!(r#"{{"type":"call-invite","call_id":{id},"video":true}}"#),
            format!(r#"{{"type":"call-accept","call_id":{id}}}"#),
            format!(r#"{{"type":"call-decline","call_id":{id}}}"#),
            format!(r#"{{"type":"call-end","call_id":{id}}}"#),
            format!(
                r#"{{"type":"call-media","call_id":{id},"audio":true,"video":true,"screen":false}}"#
            ),
        ] {
            check_refused(&text, "call id");
        }
    }
    check_refused(
        r#"{"type":"call-media","call_id":"c1","audio":true,"video":false,"screen":true}"#,
        "shares a screen without sending video",
    );
    for text in [
        r#"{"type":"call-invite","call_id":"c1"}"#,
        r#"{"type":"call-invite","call_id":"c1","video":"yes"}"#,
        r#"{"type":"call-invite","call_id":7,"video":true}"#,
        r#"{"type":"call-invite","video":true}"#,
        r#"{"type":"call-accept"}"#,
        r#"{"type":"call-end","call_id":null}"#,
        r#"{"type":"call-decline","call_id":"c1","reason":7}"#,
        r#"{"type":"call-media","call_id":"c1","audio":true,"video":true}"#,
        r#"{"type":"call-media","call_id":"c1","audio":1,"video":true,"screen":false}"#,
        r#"{"type":"call-ring","call_id":"c1"}"#,
    ] {
        check_refused(text, "could not be read");
    }
    let huge = format!(
        r#"{{"type":"call-invite","call_id":"c1","video":true,"pad":"{}"}}"#,
        "x".repeat(MAX_PEER_FRAME_BYTES)
    );
    assert!(matches!(
        PeerFrame::decode(&huge),
        Err(ProtocolError::TooLarge { .. })
    ));
}

// ---- the state machine ------------------------------------------------------------------------------------

#[test]
fn a_calls_b_accepts_and_a_hangs_up() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.settle(T0);
    let (a, b) = p.take_events();
    assert_eq!(a, []);
    assert_eq!(b, [CallEvent::Ringing { video: true }]);
    assert_eq!(
        p.b.current().unwrap().phase,
        Phase::Incoming { since_ms: T0 }
    );
    assert_eq!(p.a.poll_timeout(), Some(T0 + RING_TIMEOUT_MS));
    assert_eq!(p.b.poll_timeout(), Some(T0 + INCOMING_RING_TIMEOUT_MS));

    p.b.accept(MediaState::new(false, true), T0 + 3000).unwrap();
    p.settle(T0 + 3100);
    let (a, b) = p.take_events();
    assert_eq!(
        a,
        [
            CallEvent::Started { video: true },
            CallEvent::RemoteMedia(MediaState::new(false, true))
        ]
    );
    // B hears A's media state, which is what it assumed anyway: no event.
    assert_eq!(b, [CallEvent::Started { video: true }]);
    assert_eq!(
        p.a.current().unwrap().phase,
        Phase::Active {
            started_ms: T0 + 3100
        }
    );
    assert_eq!(p.a.poll_timeout(), None);

    p.a.hang_up(T0 + 3100 + 151_000).unwrap();
    p.settle(T0 + 3000 + 151_000);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(true, ended(151_000, true, false))]);
    assert_eq!(b, [over(true, ended(151_000, false, false))]);
    assert!(p.a.is_idle() && p.b.is_idle());
    assert_eq!(
        a[0].history_line("Bob").as_deref(),
        Some("Call ended · 2:31")
    );
}

#[test]
fn media_changes_reach_the_other_side_only_when_they_change() {
    let mut p = Pair::live(T0);
    let muted = MediaState::new(false, true);
    p.a.set_local_media(muted).unwrap();
    p.a.set_local_media(muted).unwrap(); // no change, no frame
    p.settle(T0 + 2000);
    let camera_off = MediaState::new(false, false);
    p.a.set_local_media(camera_off).unwrap();
    let sharing = MediaState {
        audio: true,
        video: true,
        screen: true,
    };
    p.b.set_local_media(sharing).unwrap();
    p.settle(T0 + 3000);
    let (a, b) = p.take_events();
    assert_eq!(a, [CallEvent::RemoteMedia(sharing)]);
    assert_eq!(
        b,
        [
            CallEvent::RemoteMedia(muted),
            CallEvent::RemoteMedia(camera_off)
        ]
    );
    assert_eq!(p.b.current().unwrap().remote, camera_off);
    assert_eq!(p.a.current().unwrap().local, camera_off);
    // Contradictory local state is refused, not sent.
    assert!(p
        .a
        .set_local_media(MediaState {
            audio: true,
            video: false,
            screen: true
        })
        .is_err());
}

#[test]
fn media_set_while_ringing_is_sent_when_the_call_starts() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), false, MIC, T0).unwrap();
    p.settle(T0);
    p.a.set_local_media(MediaState::new(false, false)).unwrap();
    p.settle(T0);
    assert_eq!(
        p.b.current().unwrap().remote,
        MIC,
        "nothing sent while ringing"
    );
    p.take_events();
    p.b.accept(MIC, T0 + 10).unwrap();
    p.settle(T0 + 10);
    let (_, b) = p.take_events();
    assert_eq!(
        b,
        [
            CallEvent::Started { video: false },
            CallEvent::RemoteMedia(MediaState::new(false, false))
        ]
    );
    assert_eq!(
        b[0].history_line("A").as_deref(),
        Some("Audio call started")
    );
}

#[test]
fn declined_calls_show_as_declined_on_both_sides() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.settle(T0);
    p.take_events();
    p.b.decline(DeclineReason::Declined, T0 + 500).unwrap();
    p.settle(T0 + 500);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(true, Ending::Declined { by_me: false })]);
    assert_eq!(b, [over(true, Ending::Declined { by_me: true })]);
    for e in [a[0], b[0]] {
        assert_eq!(e.history_line("X").as_deref(), Some("Call declined"));
    }
    // Hanging up a ringing incoming call declines it too.
    p.a.start(B_ID.into(), false, MIC, T0 + 600).unwrap();
    p.settle(T0 + 600);
    p.take_events();
    p.b.hang_up(T0 + 700).unwrap();
    p.settle(T0 + 700);
    let (a, _) = p.take_events();
    assert_eq!(a, [over(false, Ending::Declined { by_me: false })]);
}

#[test]
fn a_callee_without_devices_declines_as_unavailable() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.settle(T0);
    p.take_events();
    p.b.decline(DeclineReason::Unavailable, T0 + 500).unwrap();
    p.settle(T0 + 500);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(true, Ending::Refused(DeclineReason::Unavailable))]);
    assert_eq!(b, [over(true, Ending::Missed)]);
    assert_eq!(
        a[0].history_line("Bob").as_deref(),
        Some("Bob couldn't join: no camera or microphone available")
    );
}

#[test]
fn a_cancelled_call_is_a_missed_call_for_the_callee() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), false, MIC, T0).unwrap();
    p.settle(T0);
    p.take_events();
    p.a.hang_up(T0 + 4000).unwrap();
    p.settle(T0 + 4000);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(false, Ending::Cancelled)]);
    assert_eq!(b, [over(false, Ending::Missed)]);
    assert_eq!(
        b[0].history_line("Alice").as_deref(),
        Some("Missed call from Alice")
    );
    assert_eq!(a[0].history_line("Bob").as_deref(), Some("Call cancelled"));
    // A late accept for the cancelled call changes nothing.
    assert!(p.b.accept(MIC, T0 + 4001).is_err());
    p.a.handle_frame(
        &PeerFrame::CallAccept {
            call_id: A_ID.into(),
        },
        T0 + 4002,
    );
    p.settle(T0 + 4002);
    assert_eq!(p.take_events(), (vec![], vec![]));
    assert!(p.a.is_idle());
}

#[test]
fn unanswered_calls_time_out_on_both_sides() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.settle(T0);
    p.take_events();
    p.a.handle_timeout(T0 + RING_TIMEOUT_MS - 1);
    p.settle(T0 + RING_TIMEOUT_MS - 1);
    assert!(!p.a.is_idle(), "not yet");
    p.a.handle_timeout(T0 + RING_TIMEOUT_MS);
    p.settle(T0 + RING_TIMEOUT_MS);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(true, Ending::NoAnswer)]);
    assert_eq!(b, [over(true, Ending::Missed)]);
    assert_eq!(
        a[0].history_line("Bob").as_deref(),
        Some("No answer from Bob")
    );

    // The callee gives up by itself when the caller's call-end never comes.
    let mut b = Call::new();
    b.handle_frame(
        &PeerFrame::CallInvite {
            call_id: A_ID.into(),
            video: false,
        },
        T0,
    );
    assert_eq!(
        b.poll_output(),
        Some(Output::Event(CallEvent::Ringing { video: false }))
    );
    b.handle_timeout(T0 + INCOMING_RING_TIMEOUT_MS - 1);
    assert_eq!(b.poll_output(), None);
    b.handle_timeout(T0 + INCOMING_RING_TIMEOUT_MS);
    assert_eq!(
        b.poll_output(),
        Some(Output::Event(over(false, Ending::Missed)))
    );
    assert!(b.is_idle() && b.poll_timeout().is_none());
}

#[test]
fn either_side_hanging_up_ends_the_call_for_both() {
    let mut p = Pair::live(T0);
    p.b.hang_up(T0 + 1000 + 7_900).unwrap();
    p.settle(T0 + 1000 + 8_000);
    let (a, b) = p.take_events();
    assert_eq!(a, [over(true, ended(8_000, false, false))]);
    assert_eq!(b, [over(true, ended(7_900, true, false))]);
    assert_eq!(b[0].history_line("").as_deref(), Some("Call ended · 0:07"));
}

#[test]
fn glare_connects_one_call_whoever_invited_first() {
    for (a_id, b_id) in [(A_ID, B_ID), (B_ID, A_ID)] {
        let mut p = Pair::new();
        // Both invite before either invite arrives.
        p.a.start(a_id.into(), true, MIC_CAM, T0).unwrap();
        p.b.start(b_id.into(), false, MIC, T0).unwrap();
        p.settle(T0 + 50);
        let (a, b) = p.take_events();
        let winner = a_id.min(b_id);
        let video = winner == a_id; // A's invite was a video call, B's an audio call
        assert_eq!(a[..1], [CallEvent::Started { video }], "{a_id} vs {b_id}");
        assert_eq!(b[..1], [CallEvent::Started { video }], "{a_id} vs {b_id}");
        for c in [&p.a, &p.b] {
            let info = c.current().unwrap();
            assert_eq!(info.call_id, winner);
            assert!(matches!(info.phase, Phase::Active { .. }));
        }
        // The loser kept its own media state and told it.
        assert_eq!(p.a.current().unwrap().remote, p.b.current().unwrap().local);
        assert_eq!(p.b.current().unwrap().remote, p.a.current().unwrap().local);
        p.a.hang_up(T0 + 60).unwrap();
        p.settle(T0 + 60);
        assert!(p.a.is_idle() && p.b.is_idle());
    }
}

#[test]
fn glare_with_equal_ids_still_agrees() {
    let mut p = Pair::new();
    p.a.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.b.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    p.settle(T0);
    let (a, b) = p.take_events();
    assert_eq!(a, [CallEvent::Started { video: true }]);
    assert_eq!(b, [CallEvent::Started { video: true }]);
}

#[test]
fn a_second_invite_gets_busy() {
    let mut p = Pair::live(T0);
    // B (confused, or hostile) invites again with another id while the call is live.
    p.to_a.push_back(PeerFrame::CallInvite {
        call_id: B_ID.into(),
        video: false,
    });
    p.settle(T0 + 5000);
    assert!(matches!(p.a.current().unwrap().phase, Phase::Active { .. }));
    let mut c = Call::new();
    c.handle_frame(
        &PeerFrame::CallInvite {
            call_id: A_ID.into(),
            video: true,
        },
        T0,
    );
    c.poll_output();
    c.handle_frame(
        &PeerFrame::CallInvite {
            call_id: B_ID.into(),
            video: true,
        },
        T0,
    );
    assert_eq!(
        c.poll_output(),
        Some(Output::Send(PeerFrame::CallDecline {
            call_id: B_ID.into(),
            reason: DeclineReason::Busy
        }))
    );
    // A repeated invite for the ringing call is not a second call.
    c.handle_frame(
        &PeerFrame::CallInvite {
            call_id: A_ID.into(),
            video: true,
        },
        T0,
    );
    assert_eq!(c.poll_output(), None);
    assert_eq!(c.current().unwrap().call_id, A_ID);
    // The caller that gets "busy" shows it.
    let mut caller = Call::new();
    caller.start(B_ID.into(), true, MIC_CAM, T0).unwrap();
    caller.poll_output();
    caller.handle_frame(
        &PeerFrame::CallDecline {
            call_id: B_ID.into(),
            reason: DeclineReason::Busy,
        },
        T0,
    );
    let Some(Output::Event(e)) = caller.poll_output() else {
        panic!("an event")
    };
    assert_eq!(
        e.history_line("Bob").as_deref(),
        Some("Bob is busy in another call")
    );
}

#[test]
fn stale_and_unrelated_frames_change_nothing() {
    let mut p = Pair::live(T0);
    for f in [
        PeerFrame::CallAccept {
            call_id: B_ID.into(),
        },
        PeerFrame::CallDecline {
            call_id: A_ID.into(),
            reason: DeclineReason::Declined,
        },
        PeerFrame::CallEnd {
            call_id: B_ID.into(),
        },
        PeerFrame::CallMedia {
            call_id: B_ID.into(),
            audio: false,
            video: false,
            screen: false,
        },
        PeerFrame::CallAccept {
            call_id: A_ID.into(),
        },
        PeerFrame::Typing { active: true },
    ] {
        p.a.handle_frame(&f, T0 + 9000);
        p.b.handle_frame(&f, T0 + 9000);
    }
    p.settle(T0 + 9000);
    assert_eq!(p.take_events(), (vec![], vec![]));
    assert!(matches!(
        p.a.current().unwrap().phase,
        Phase::Active { started_ms } if started_ms == T0 + 1000
    ));
    // An idle side ignores everything but an invite.
    let mut idle = Call::new();
    for f in [
        PeerFrame::CallAccept {
            call_id: A_ID.into(),
        },
        PeerFrame::CallEnd {
            call_id: A_ID.into(),
        },
        PeerFrame::CallDecline {
            call_id: A_ID.into(),
            reason: DeclineReason::Busy,
        },
    ] {
        idle.handle_frame(&f, T0);
    }
    assert_eq!(idle.poll_output(), None);
    assert!(idle.is_idle());
}

#[test]
fn the_call_ends_when_the_pairing_goes_away() {
    // Live: ended with its duration.
    let mut p = Pair::live(T0);
    p.a.peer_gone(T0 + 1000 + 65_000);
    let (a, _) = {
        p.collect();
        p.take_events()
    };
    assert_eq!(a, [over(true, ended(65_000, false, true))]);
    assert_eq!(a[0].history_line("").as_deref(), Some("Call ended · 1:05"));
    // Ringing out: not connected; ringing in: missed; idle: nothing.
    let mut c = Call::new();
    c.start(A_ID.into(), false, MIC, T0).unwrap();
    c.poll_output();
    c.peer_gone(T0 + 1);
    assert_eq!(
        c.poll_output(),
        Some(Output::Event(over(false, Ending::NotConnected)))
    );
    c.handle_frame(
        &PeerFrame::CallInvite {
            call_id: B_ID.into(),
            video: true,
        },
        T0,
    );
    c.poll_output();
    c.peer_gone(T0 + 2);
    assert_eq!(
        c.poll_output(),
        Some(Output::Event(over(true, Ending::Missed)))
    );
    c.peer_gone(T0 + 3);
    assert_eq!(c.poll_output(), None);
}

#[test]
fn person_actions_out_of_place_are_refused_not_panics() {
    let mut c = Call::new();
    assert!(c.accept(MIC, T0).is_err());
    assert!(c.decline(DeclineReason::Declined, T0).is_err());
    assert!(c.hang_up(T0).is_err());
    assert!(c.set_local_media(MIC).is_err());
    assert!(c.start("bad id".into(), true, MIC_CAM, T0).is_err());
    assert!(c
        .start(
            A_ID.into(),
            true,
            MediaState {
                audio: true,
                video: false,
                screen: true
            },
            T0
        )
        .is_err());
    assert_eq!(c.poll_output(), None);
    c.start(A_ID.into(), true, MIC_CAM, T0).unwrap();
    assert!(c.start(B_ID.into(), true, MIC_CAM, T0).is_err());
    assert!(c.accept(MIC, T0).is_err(), "one's own call is not accepted");
    assert!(c.decline(DeclineReason::Declined, T0).is_err());
    // Time going backwards (a clock change) never underflows.
    let mut p = Pair::live(T0);
    p.a.hang_up(T0 - 5_000).unwrap();
    p.collect();
    assert_eq!(p.a_events, [over(true, ended(0, true, false))]);
}

#[test]
fn durations_read_like_a_clock() {
    for (ms, text) in [
        (0, "0:00"),
        (999, "0:00"),
        (7_000, "0:07"),
        (151_000, "2:31"),
        (3_599_999, "59:59"),
        (3_600_000, "1:00:00"),
        (3_723_000, "1:02:03"),
        (u64::MAX, "5124095576030:25:51"),
    ] {
        assert_eq!(format_duration(ms), text, "{ms}");
    }
}
