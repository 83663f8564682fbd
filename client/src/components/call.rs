//! Calls on the room page: the start buttons ([`CallButtons`], in the room's header), and the panel for the
//! incoming-call prompt and the call itself ([`CallPanel`]: remote video, local preview, duration, mute / camera /
//! screen / hang up, the other person's "muted" and "camera off").
//!
//! All state lives in the [`CallController`]; this view subscribes to it and attaches its streams to the
//! `<video>` elements after each render.

use twain_protocol::call::format_duration;
use wasm_bindgen::JsValue;
use web_sys::{HtmlVideoElement, MediaStream};
use yew::prelude::*;

use crate::call::{CallController, CallStage, CallView};

#[derive(Properties, PartialEq)]
pub struct CallPanelProps {
    pub controller: CallController,
    /// The other person's name.
    pub peer_name: AttrValue,
}

#[derive(Properties, PartialEq)]
pub struct CallButtonsProps {
    pub controller: CallController,
    /// The other person's name.
    pub peer_name: AttrValue,
    /// The chat channel is open and nothing holds sending (calls can only start then).
    pub connected: bool,
}

/// The controller's view, kept current for this component.
#[hook]
fn use_call_view(controller: &CallController) -> UseStateHandle<CallView> {
    let view = use_state(|| controller.view());
    {
        let view = view.clone();
        use_effect_with(controller.clone(), move |c| {
            let id = c.subscribe(Callback::from(move |v: CallView| view.set(v)));
            let c = c.clone();
            move || c.unsubscribe(id)
        });
    }
    view
}

/// "Audio call" and "Video call", while no call is ringing or live (the panel has the controls then).
#[function_component(CallButtons)]
pub fn call_buttons(props: &CallButtonsProps) -> Html {
    let controller = props.controller.clone();
    let view = use_call_view(&controller);
    if !matches!(view.stage, CallStage::Idle) {
        return html! {};
    }
    let why =
        (!props.connected).then(|| format!("You can call once {} is connected.", props.peer_name));
    let start = |video: bool| {
        let c = controller.clone();
        Callback::from(move |_: MouseEvent| c.start(video))
    };
    html! {
        <div class="call-bar">
            <button aria-label="Start audio call" disabled={!props.connected} title={why.clone()}
                onclick={start(false)}>{ phone_icon() }<span class="label">{ "Audio call" }</span></button>
            <button aria-label="Start video call" disabled={!props.connected} title={why}
                onclick={start(true)}>{ camera_icon() }<span class="label">{ "Video call" }</span></button>
        </div>
    }
}

/// Points `video` at `stream` unless it already plays it.
fn attach(video: &HtmlVideoElement, stream: Option<MediaStream>) {
    let current: JsValue = video.src_object().into();
    let wanted: JsValue = stream.clone().into();
    if current != wanted {
        video.set_src_object(stream.as_ref());
    }
}

#[function_component(CallPanel)]
pub fn call_panel(props: &CallPanelProps) -> Html {
    let controller = props.controller.clone();
    let view = use_call_view(&controller);

    // The duration ticks once a second while the call is live.
    let tick = use_force_update();
    let live = matches!(view.stage, CallStage::Active { .. });
    use_effect_with(live, move |live| {
        let timer =
            live.then(|| gloo_timers::callback::Interval::new(1000, move || tick.force_update()));
        move || drop(timer)
    });

    // Streams are attached after every render: the elements come and go with the stage.
    let local_ref = use_node_ref();
    let remote_ref = use_node_ref();
    {
        let controller = controller.clone();
        let local_ref = local_ref.clone();
        let remote_ref = remote_ref.clone();
        use_effect(move || {
            if let Some(v) = local_ref.cast::<HtmlVideoElement>() {
                // Set as a property: the `muted` attribute alone does not mute an element created by script.
                v.set_muted(true);
                attach(&v, controller.local_preview());
            }
            if let Some(v) = remote_ref.cast::<HtmlVideoElement>() {
                attach(&v, controller.remote_stream());
            }
        });
    }

    let on = |f: fn(&CallController)| {
        let c = controller.clone();
        Callback::from(move |_: MouseEvent| f(&c))
    };
    let peer = props.peer_name.to_string();
    let notice = view.notice.as_ref().map(|text| {
        html! {
            <div class="call-notice" role="alert">
                <p>{ text.clone() }</p>
                <button class="link" onclick={on(CallController::dismiss_notice)}>{ "Dismiss" }</button>
            </div>
        }
    });

    let body = match view.stage {
        // The start buttons are in the header (CallButtons).
        CallStage::Idle => html! {},
        CallStage::Preparing { accepting, .. } => html! {
            <section class="call ringing" aria-label="Call">
                <p class="call-status" role="status">
                    { if accepting { "Joining the call…" } else { "Starting your camera and microphone…" } }
                </p>
                <div class="call-controls">
                    <button class="danger" onclick={on(CallController::hang_up)}>{ "Cancel" }</button>
                </div>
            </section>
        },
        CallStage::Outgoing { video } => html! {
            <section class="call ringing" aria-label="Call">
                if video && view.local.video {
                    <video class="preview" ref={local_ref.clone()} aria-label="Your camera preview"
                        autoplay=true muted=true playsinline=true />
                }
                <p class="call-status" role="status">{ format!("Calling {peer}…") }</p>
                <div class="call-controls">
                    <button class="danger" onclick={on(CallController::hang_up)}>{ "Hang up" }</button>
                </div>
            </section>
        },
        CallStage::Incoming { video } => {
            let kind = if video { "video" } else { "audio" };
            html! {
                <section class="call incoming" role="dialog" aria-labelledby="incoming-call-title"
                    aria-describedby="incoming-call-hint">
                    <h2 id="incoming-call-title">{ format!("Incoming {kind} call from {peer}") }</h2>
                    <p id="incoming-call-hint" class="muted small">
                        { if video { "Accepting turns on your camera and microphone." } else { "Accepting turns on your microphone." } }
                    </p>
                    <p class="visually-hidden" role="status">{ format!("{peer} is calling you.") }</p>
                    <div class="call-controls">
                        <button class="primary accept" onclick={on(CallController::accept)}>{ "Accept" }</button>
                        <button class="danger" onclick={on(CallController::decline)}>{ "Decline" }</button>
                    </div>
                </section>
            }
        }
        CallStage::Active { video, started_ms } => {
            let elapsed = (js_sys::Date::now() - started_ms).max(0.0) as u64;
            let remote = view.remote;
            let show_remote_video = view.remote_video && remote.video;
            let can_share = screen_share_supported();
            html! {
                <section class="call active" aria-label={format!("Call with {peer}")}>
                    <div class={classes!("call-stage", (!video && !view.local.video && !remote.video).then_some("audio-only"))}>
                        <video class={classes!("remote", (!show_remote_video).then_some("hidden"))}
                            ref={remote_ref.clone()} aria-label={format!("Video from {peer}")}
                            autoplay=true playsinline=true />
                        if !show_remote_video {
                            <div class="remote-placeholder">
                                <span class="avatar" aria-hidden="true">{ initial(&peer) }</span>
                                if remote.video {
                                    <p>{ format!("Waiting for {peer}'s video…") }</p>
                                } else if video {
                                    <p>{ format!("{peer}'s camera is off") }</p>
                                } else {
                                    <p>{ format!("Audio call with {peer}") }</p>
                                }
                            </div>
                        }
                        if remote.screen {
                            <p class="call-badge top">{ format!("{peer} is sharing their screen") }</p>
                        }
                        if view.local.video {
                            <video class="preview" ref={local_ref.clone()}
                                aria-label={ if view.local.screen { "Your shared screen" } else { "Your camera preview" } }
                                autoplay=true muted=true playsinline=true />
                        }
                    </div>
                    <p class="call-status" role="status">
                        <span>{ format!("In call with {peer}") }</span>
                        { " · " }
                        <span class="duration" aria-label="Call duration">{ format_duration(elapsed) }</span>
                    </p>
                    <p class="call-badges" aria-live="polite">
                        if !remote.audio {
                            <span class="call-badge">{ format!("{peer}'s microphone is muted") }</span>
                        }
                    </p>
                    <div class="call-controls" role="group" aria-label="Call controls">
                        { control(on(CallController::toggle_mic),
                            if view.local.audio { ("Mute microphone", "Mute") } else { ("Unmute microphone", "Unmute") }) }
                        { control(on(CallController::toggle_camera),
                            if view.camera { ("Turn camera off", "Camera off") } else { ("Turn camera on", "Camera on") }) }
                        if can_share {
                            { control(on(CallController::toggle_screen),
                                if view.local.screen { ("Stop sharing", "Stop sharing") } else { ("Share screen", "Share") }) }
                        }
                        <button class="danger" onclick={on(CallController::hang_up)}>{ "Hang up" }</button>
                    </div>
                </section>
            }
        }
    };

    html! {
        <div class="call-panel">
            { body }
            { for notice }
        </div>
    }
}

/// A call control named `name`, which shows `short` instead on a phone, where all controls fit on one line (the
/// shorter words are part of the name, so saying what is shown still finds the button).
fn control(onclick: Callback<MouseEvent>, (name, short): (&'static str, &'static str)) -> Html {
    html! {
        <button {onclick} aria-label={name}>
            <span class="long">{ name }</span><span class="short" aria-hidden="true">{ short }</span>
        </button>
    }
}

fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".into())
}

/// Phones have no `getDisplayMedia`: no "Share screen" button there.
fn screen_share_supported() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &"mediaDevices".into()).ok())
        .filter(|d| !d.is_undefined())
        .and_then(|d| js_sys::Reflect::get(&d, &"getDisplayMedia".into()).ok())
        .is_some_and(|f| f.is_function())
}

/// A handset outline, drawn in the text colour (emoji depend on the fonts a system has; this does not).
fn phone_icon() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 3 5a2 2 0 0 1 2-2z" />
        </svg>
    }
}

/// A video camera outline, drawn in the text colour.
fn camera_icon() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="2" y="6" width="13" height="12" rx="2" />
            <path d="M15 10l6-3.5v11L15 14z" />
        </svg>
    }
}
