//! What the room page says about who is on the other end (see [`crate::identity`]): the loud warning when the
//! proof does not match the connection, the notice when the identity changed since last time, the quiet "same
//! person as last time", the safety code to compare, and the "Verified" badge.

use std::rc::Rc;

use yew::prelude::*;

use crate::components::{focus, on_escape};
use crate::identity::{Check, Continuity, TrustController, TrustView};

#[derive(Properties, PartialEq)]
pub struct TrustProps {
    pub controller: Rc<TrustController>,
    pub view: TrustView,
    /// The other person's name as shown.
    pub peer_name: AttrValue,
}

/// "Verified" next to the other person's name.
#[function_component(VerifiedBadge)]
pub fn verified_badge(props: &TrustProps) -> Html {
    if !props.view.show_verified() {
        return html! {};
    }
    html! {
        <span class="verified-badge" title={format!("You compared the safety code with {}", props.peer_name)}>
            { "✓ Verified" }
        </span>
    }
}

/// Everything else: warnings, the continuity note, the safety code.
#[function_component(TrustPanel)]
pub fn trust_panel(props: &TrustProps) -> Html {
    let open = use_state(|| false);
    let view = &props.view;
    let peer = props.peer_name.to_string();
    let c = props.controller.clone();

    let on_continue = {
        let c = c.clone();
        Callback::from(move |_| c.continue_anyway())
    };
    let on_leave = Callback::from(|_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_hash("/");
        }
    });
    let toggle_code = {
        let open = open.clone();
        Callback::from(move |_| open.set(!*open))
    };
    // Keyboard focus: into the safety code when it opens, back to the button that opened it when it closes.
    let first_ref = use_node_ref();
    let opener_ref = use_node_ref();
    let compare_ref = use_node_ref();
    let was_open = use_mut_ref(|| false);
    {
        let (first_ref, opener_ref, compare_ref) =
            (first_ref.clone(), opener_ref.clone(), compare_ref.clone());
        use_effect_with(*open, move |open| {
            let closed = std::mem::replace(&mut *was_open.borrow_mut(), *open) && !*open;
            if *open {
                focus(&first_ref);
            } else if closed && !focus(&opener_ref) {
                focus(&compare_ref);
            }
        });
    }
    let on_key = {
        let open = open.clone();
        on_escape(Callback::from(move |_| open.set(false)))
    };
    let on_accept = {
        let c = c.clone();
        Callback::from(move |_| c.accept_new_identity())
    };
    let dismiss = {
        let c = c.clone();
        Callback::from(move |_| c.dismiss_notice())
    };

    let failure = match &view.check {
        Check::Failed(why) if !view.overridden => html! {
            <section class="banner error trust-alert" role="alert" aria-label="Identity check">
                <p><strong>{ "Someone may be intercepting this conversation." }</strong></p>
                <p>{ format!("Twain could not confirm that the connection goes straight to {peer}'s browser. {why}") }</p>
                <p>{ format!("Nothing more is sent to {peer} until you decide. Talk to {peer} another way (in person, by phone) before you continue.") }</p>
                <div class="row">
                    <button onclick={on_leave}>{ "Leave" }</button>
                    <button class="danger" onclick={on_continue}>{ "Continue anyway" }</button>
                </div>
            </section>
        },
        Check::Failed(why) => html! {
            <section class="banner warn" role="status" aria-label="Identity check">
                <p>{ format!("This connection is not verified ({why}) You chose to continue anyway.") }</p>
            </section>
        },
        _ => html! {},
    };

    let continuity = match (view.continuity, &view.check) {
        (Continuity::Changed, Check::Proven) => html! {
            <section class="banner warn trust-changed" role="alert" aria-label="Identity changed">
                <p><strong>{ "This is a different identity than last time." }</strong></p>
                <p>{ format!("The browser you are talking to now is not the one you met as {peer} in this room before. {peer} may have reset Twain or changed browsers, or someone may be pretending to be them. Compare the safety code to be sure.") }</p>
                <div class="row">
                    <button ref={compare_ref.clone()} onclick={toggle_code.clone()}>{ "Compare safety code" }</button>
                    <button onclick={on_accept}>{ "Accept the new identity" }</button>
                </div>
            </section>
        },
        (Continuity::Same, Check::Proven) => html! {
            <p class="trust-note" role="status">{ "✓ Same person as last time." }</p>
        },
        (Continuity::First, Check::Proven) => html! {
            <p class="trust-note" role="status">
                { format!("First time you meet {peer} here. Compare safety codes to be sure nobody is in the middle.") }
            </p>
        },
        (Continuity::Accepted, Check::Proven) => html! {
            <p class="trust-note" role="status">{ format!("You accepted {peer}'s new identity.") }</p>
        },
        (_, Check::Waiting) => html! {
            <p class="trust-note muted" role="status">{ format!("Checking {peer}'s identity…") }</p>
        },
        _ => html! {},
    };

    let peer_mode = if view.peer_keeps_nothing {
        html! {
            <p class="trust-note" role="status">{ format!("{peer} is not keeping any history of this room.") }</p>
        }
    } else {
        html! {}
    };

    let code_button = if view.safety_code.is_some() && view.continuity != Continuity::Changed {
        html! {
            <button ref={opener_ref.clone()} class="link" onclick={toggle_code.clone()} aria-expanded={open.to_string()}>
                { if *open { "Hide safety code" } else { "Safety code" } }
            </button>
        }
    } else {
        html! {}
    };

    let dialog = match (&view.safety_code, *open) {
        (Some(code), true) => {
            let verified = view.verified;
            let on_mark = {
                let c = c.clone();
                let open = open.clone();
                Callback::from(move |_| {
                    c.mark_verified(!verified);
                    if !verified {
                        open.set(false);
                    }
                })
            };
            html! {
                <section class="card safety" role="dialog" aria-labelledby="safety-title" onkeydown={on_key}>
                    <h2 id="safety-title">{ "Safety code" }</h2>
                    <p>{ format!("Read this code to {peer} in person or on a call you trust (not in this chat). If {peer} sees the same code, nobody is in the middle of your conversation.") }</p>
                    <p class="safety-code" aria-label="Safety code digits">{ code.clone() }</p>
                    <p class="muted small">
                        { format!("Your identity: {} · {peer}'s identity: {}", view.my_id, view.peer_id.clone().unwrap_or_default()) }
                    </p>
                    <div class="row">
                        <button ref={first_ref.clone()} class={classes!((!verified).then_some("primary"))} onclick={on_mark}>
                            { if verified { "Remove the verified mark" } else { "Mark as verified" } }
                        </button>
                        <button onclick={toggle_code}>{ "Close" }</button>
                    </div>
                </section>
            }
        }
        _ => html! {},
    };

    let notice = match &view.notice {
        Some(text) => html! {
            <div class="notice" role="alert">
                <p>{ text.clone() }</p>
                <button class="link" onclick={dismiss}>{ "Dismiss" }</button>
            </div>
        },
        None => html! {},
    };

    html! {
        <div class="trust">
            { failure }
            { continuity }
            { peer_mode }
            { code_button }
            { dialog }
            { notice }
        </div>
    }
}
