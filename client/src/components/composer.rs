//! The message box. Enter sends, Shift+Enter makes a new line. Disabled with an explanation while the other
//! person is not connected: Twain has no offline delivery.

use std::rc::Rc;

use twain_protocol::wire::MAX_TEXT_CHARS;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::components::message_list::excerpt;
use crate::storage::StoredMessage;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub enabled: bool,
    /// Shown instead of the hint while disabled.
    pub disabled_reason: AttrValue,
    /// The box's placeholder while disabled.
    #[prop_or(AttrValue::Static("Not connected"))]
    pub disabled_placeholder: AttrValue,
    pub on_send: Callback<String>,
    /// `true` while typing (throttled here), `false` when the box is emptied or sent.
    pub on_typing: Callback<bool>,
    /// The message the next one answers, shown above the box; Escape or its button drops it.
    #[prop_or_default]
    pub reply: Option<Rc<StoredMessage>>,
    #[prop_or_default]
    pub on_cancel_reply: Callback<()>,
    /// One of our messages being changed: its text fills the box, and sending saves it instead.
    #[prop_or_default]
    pub editing: Option<Rc<StoredMessage>>,
    #[prop_or_default]
    pub on_cancel_edit: Callback<()>,
}

/// Don't repeat "typing" more often than this.
const TYPING_EVERY_MS: f64 = 2500.0;

#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let text = use_state(String::new);
    let last_typing = use_mut_ref(|| 0.0f64);
    let area_ref = use_node_ref();
    {
        // Choosing a message to answer takes the person to the box.
        let area_ref = area_ref.clone();
        use_effect_with(props.reply.as_ref().map(|m| m.id.clone()), move |reply| {
            if reply.is_some() {
                crate::components::focus(&area_ref);
            }
        });
    }
    {
        // Changing a message puts its text in the box, with the cursor at its end; stopping empties the box.
        let area_ref = area_ref.clone();
        let text = text.clone();
        let editing = props.editing.clone();
        use_effect_with(editing.as_ref().map(|m| m.id.clone()), move |id| {
            match (&editing, id) {
                (Some(m), Some(_)) => {
                    text.set(m.text.clone());
                    if let Some(area) = area_ref.cast::<HtmlTextAreaElement>() {
                        area.set_value(&m.text);
                        let end = m.text.encode_utf16().count() as u32;
                        let _ = area.set_selection_range(end, end);
                        let _ = area.focus();
                    }
                }
                _ => text.set(String::new()),
            }
        });
    }

    let send = {
        let text = text.clone();
        let on_send = props.on_send.clone();
        let on_typing = props.on_typing.clone();
        let enabled = props.enabled;
        let last_typing = last_typing.clone();
        move || {
            let body = text.trim().to_string();
            if !enabled || body.is_empty() || body.chars().count() > MAX_TEXT_CHARS {
                return;
            }
            on_send.emit(body);
            text.set(String::new());
            *last_typing.borrow_mut() = 0.0;
            on_typing.emit(false);
        }
    };

    let oninput = {
        let text = text.clone();
        let on_typing = props.on_typing.clone();
        let last_typing = last_typing.clone();
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            let now = js_sys::Date::now();
            if value.trim().is_empty() {
                if *last_typing.borrow() > 0.0 {
                    *last_typing.borrow_mut() = 0.0;
                    on_typing.emit(false);
                }
            } else if now - *last_typing.borrow() > TYPING_EVERY_MS {
                *last_typing.borrow_mut() = now;
                on_typing.emit(true);
            }
            text.set(value);
        })
    };
    let onkeydown = {
        let send = send.clone();
        let (replying, editing) = (props.reply.is_some(), props.editing.is_some());
        let cancel_reply = props.on_cancel_reply.clone();
        let cancel_edit = props.on_cancel_edit.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                send();
            } else if e.key() == "Escape" && (replying || editing) {
                e.prevent_default();
                if editing {
                    cancel_edit.emit(());
                } else {
                    cancel_reply.emit(());
                }
            }
        })
    };
    // Above the box: what the next message answers, or the message being changed; x (or Escape) stops.
    let banner =
        |what: Html, m: &StoredMessage, cancel_label: &'static str, cancel: &Callback<()>| {
            let onclick = {
                let cancel = cancel.clone();
                let area_ref = area_ref.clone();
                Callback::from(move |_: MouseEvent| {
                    cancel.emit(());
                    crate::components::focus(&area_ref);
                })
            };
            html! {
                <div class="replying" id="composer-reply">
                    <p>
                        <span class="replying-to">{ what }</span>
                        <span class="replying-text">{ excerpt(&m.text, 120) }</span>
                    </p>
                    <button type="button" class="cancel-reply" aria-label={cancel_label}
                        title={format!("{cancel_label} (Esc)")} {onclick}>{ "×" }</button>
                </div>
            }
        };
    let reply = match (&props.editing, &props.reply) {
        (Some(m), _) => Some(banner(
            html! { <strong>{ "Editing your message" }</strong> },
            m,
            "Cancel editing",
            &props.on_cancel_edit,
        )),
        (None, Some(m)) => {
            let who = if m.from_me {
                "yourself".to_string()
            } else {
                m.author.clone()
            };
            Some(banner(
                html! { <>{ "Replying to " }<strong>{ who }</strong></> },
                m,
                "Cancel reply",
                &props.on_cancel_reply,
            ))
        }
        (None, None) => None,
    };
    let described_by = if reply.is_some() {
        "composer-reply composer-hint"
    } else {
        "composer-hint"
    };
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        send();
    });

    let count = text.chars().count();
    let too_long = count > MAX_TEXT_CHARS;
    html! {
        <form class="composer" {onsubmit}>
            { for reply }
            <label for="composer-text" class="visually-hidden">{ "Message" }</label>
            <textarea id="composer-text" ref={area_ref} rows="1" value={(*text).clone()} {oninput} {onkeydown}
                placeholder={ if props.enabled { AttrValue::Static("Write a message") } else { props.disabled_placeholder.clone() } }
                disabled={!props.enabled} aria-describedby={described_by} />
            <button type="submit" class="primary" disabled={!props.enabled || text.trim().is_empty() || too_long}>{
                if props.editing.is_some() { "Save" } else { "Send" }
            }</button>
            <p id="composer-hint" class={classes!("hint", (!props.enabled || too_long).then_some("warn"))} aria-live="polite">
                if !props.enabled {
                    { props.disabled_reason.clone() }
                } else if too_long {
                    { format!("This message is {count} characters long; the limit is {MAX_TEXT_CHARS}.") }
                } else {
                    { "Enter to send, Shift+Enter for a new line." }
                }
            </p>
        </form>
    }
}
