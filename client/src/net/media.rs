//! Camera, microphone and screen for calls (web-sys glue): `getUserMedia` / `getDisplayMedia` with their failures
//! turned into sentences, and the few RTCPeerConnection calls a call makes, bound so that a throw comes back as an
//! `Err` instead of unwinding through Rust.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DisplayMediaStreamConstraints, MediaStream, MediaStreamConstraints, MediaStreamTrack,
    RtcPeerConnection, RtcRtpSender, RtcSignalingState,
};

#[wasm_bindgen]
extern "C" {
    /// `addTrack` / `removeTrack` throw (InvalidStateError on a closed connection, InvalidAccessError for a track
    /// already added); web-sys binds them without `catch`.
    #[wasm_bindgen(extends = RtcPeerConnection)]
    type PcMedia;
    #[wasm_bindgen(method, catch, js_name = addTrack)]
    fn add_track_checked(
        this: &PcMedia,
        track: &MediaStreamTrack,
        stream: &MediaStream,
    ) -> Result<RtcRtpSender, JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeTrack)]
    fn remove_track_checked(this: &PcMedia, sender: &RtcRtpSender) -> Result<(), JsValue>;
}

/// Why the camera, microphone or screen could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The person (or the browser's settings) refused the permission.
    NotAllowed,
    /// There is no such device.
    NotFound,
    /// The device exists but could not be started (another app holds it, a driver error).
    NotReadable,
    /// This page cannot ask at all (no `navigator.mediaDevices`: not a secure context, or an old browser).
    Unsupported,
    /// Anything else, with the browser's error name.
    Other(String),
}

impl MediaError {
    fn from_js(error: &JsValue) -> MediaError {
        let name = js_sys::Reflect::get(error, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_default();
        match name.as_str() {
            "NotAllowedError" | "SecurityError" | "PermissionDeniedError" => MediaError::NotAllowed,
            "NotFoundError" | "DevicesNotFoundError" | "OverconstrainedError" => {
                MediaError::NotFound
            }
            "NotReadableError" | "TrackStartError" | "AbortError" => MediaError::NotReadable,
            "TypeError" => MediaError::Unsupported,
            _ => MediaError::Other(if name.is_empty() {
                "unknown error".into()
            } else {
                name
            }),
        }
    }

    /// A sentence for the person. `what` names the devices asked for ("camera or microphone", "camera").
    pub fn sentence(&self, what: &str) -> String {
        match self {
            MediaError::NotAllowed => format!(
                "Twain isn't allowed to use your {what}. Allow it in your browser's site settings (next to the \
                 address bar), then try again. Chat keeps working."
            ),
            MediaError::NotFound => format!(
                "No {what} was found. Connect one, or check that it is switched on, then try again. Chat keeps \
                 working."
            ),
            MediaError::NotReadable => format!(
                "Your {what} could not be started. Another app may be using it: close that app and try again."
            ),
            MediaError::Unsupported => {
                "This browser can't make calls from this page (calls need a secure https page and a recent \
                 browser). Chat keeps working."
                    .into()
            }
            MediaError::Other(name) => format!(
                "Your {what} could not be used ({name}). Chat keeps working."
            ),
        }
    }
}

fn media_devices() -> Result<web_sys::MediaDevices, MediaError> {
    let navigator = web_sys::window()
        .ok_or(MediaError::Unsupported)?
        .navigator();
    // `mediaDevices` is undefined outside secure contexts; web-sys would throw on the getter.
    let devices = js_sys::Reflect::get(&navigator, &"mediaDevices".into())
        .map_err(|_| MediaError::Unsupported)?;
    if devices.is_undefined() || devices.is_null() {
        return Err(MediaError::Unsupported);
    }
    Ok(devices.unchecked_into())
}

/// Asks for the microphone (`audio`) and/or the camera (`video`). The browser prompts the person if needed.
pub async fn user_media(audio: bool, video: bool) -> Result<MediaStream, MediaError> {
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio_bool(audio);
    constraints.set_video_bool(video);
    let promise = media_devices()?
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| MediaError::from_js(&e))?;
    JsFuture::from(promise)
        .await
        .map(JsCast::unchecked_into)
        .map_err(|e| MediaError::from_js(&e))
}

/// Asks the person to pick a screen, window or tab to share. Its video track, or why not (`NotAllowed` also
/// means the person closed the picker).
pub async fn screen_track() -> Result<MediaStreamTrack, MediaError> {
    let constraints = DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise = media_devices()?
        .get_display_media_with_constraints(&constraints)
        .map_err(|e| MediaError::from_js(&e))?;
    let stream: MediaStream = JsFuture::from(promise)
        .await
        .map_err(|e| MediaError::from_js(&e))?
        .unchecked_into();
    first_track(&stream, "video").ok_or(MediaError::NotFound)
}

/// The first track of `kind` ("audio" / "video") in `stream`.
pub fn first_track(stream: &MediaStream, kind: &str) -> Option<MediaStreamTrack> {
    let tracks = if kind == "audio" {
        stream.get_audio_tracks()
    } else {
        stream.get_video_tracks()
    };
    tracks.iter().next().map(JsCast::unchecked_into)
}

/// A new stream holding exactly `tracks`.
pub fn stream_of<'a>(
    tracks: impl IntoIterator<Item = &'a MediaStreamTrack>,
) -> Option<MediaStream> {
    let array = js_sys::Array::new();
    for t in tracks {
        array.push(t);
    }
    MediaStream::new_with_tracks(&array).ok()
}

/// Stops every track of `stream` (the camera light goes off).
pub fn stop_all(stream: &MediaStream) {
    for t in stream.get_tracks().iter() {
        t.unchecked_into::<MediaStreamTrack>().stop();
    }
}

fn is_closed(pc: &RtcPeerConnection) -> bool {
    pc.signaling_state() == RtcSignalingState::Closed
}

/// Adds `track` to the connection (renegotiation follows by itself). `None` if the connection is closed.
pub fn add_track(
    pc: &RtcPeerConnection,
    track: &MediaStreamTrack,
    stream: &MediaStream,
) -> Option<RtcRtpSender> {
    if is_closed(pc) {
        return None;
    }
    pc.unchecked_ref::<PcMedia>()
        .add_track_checked(track, stream)
        .ok()
}

/// Stops sending on `sender` (renegotiation follows by itself). Nothing to do on a closed connection.
pub fn remove_track(pc: &RtcPeerConnection, sender: &RtcRtpSender) {
    if !is_closed(pc) {
        let _ = pc.unchecked_ref::<PcMedia>().remove_track_checked(sender);
    }
}

/// Swaps what `sender` sends (`None`: nothing) without renegotiating. Failures are ignored: the call goes on
/// with the previous track.
pub fn replace_track(sender: &RtcRtpSender, track: Option<&MediaStreamTrack>) {
    let promise = sender.replace_track(track);
    wasm_bindgen_futures::spawn_local(async move {
        let _ = JsFuture::from(promise).await;
    });
}
