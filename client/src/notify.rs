//! Getting the person's attention while the tab is hidden: the number of unread messages in the title
//! (`"(2) Twain — …"`, cleared when the tab is shown again) and, only if they switched it on in the settings and
//! the browser allows it, a notification for new messages and incoming calls.
//!
//! The preference lives in `localStorage` (`twain.notifications`); "delete everything" removes it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Notification, NotificationOptions, NotificationPermission};
use yew::prelude::*;

use crate::call::{CallController, CallStage, CallView};

const PREFERENCE: &str = "twain.notifications";
/// Longest message preview in a notification, in characters.
const PREVIEW_CHARS: usize = 120;

#[derive(Default)]
struct Attention {
    unread: u32,
    /// The title without the count, taken when the first unread message arrives.
    base_title: Option<String>,
    on_visibility: Option<Closure<dyn FnMut()>>,
}

thread_local! {
    static ATTENTION: RefCell<Attention> = RefCell::new(Attention::default());
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Whether the page is hidden (another tab, minimised window).
pub fn page_hidden() -> bool {
    document().is_some_and(|d| d.hidden())
}

/// Listens for the page becoming visible again (once per page).
fn install() {
    ATTENTION.with(|a| {
        let mut a = a.borrow_mut();
        if a.on_visibility.is_some() {
            return;
        }
        let closure = Closure::<dyn FnMut()>::new(|| {
            if !page_hidden() {
                clear_unread();
            }
        });
        if let Some(d) = document() {
            let _ = d.add_event_listener_with_callback(
                "visibilitychange",
                closure.as_ref().unchecked_ref(),
            );
        }
        a.on_visibility = Some(closure);
    });
}

fn clear_unread() {
    let base = ATTENTION.with(|a| {
        let mut a = a.borrow_mut();
        a.unread = 0;
        a.base_title.take()
    });
    if let (Some(d), Some(base)) = (document(), base) {
        d.set_title(&base);
    }
}

/// The number of messages that arrived while the page was hidden.
pub fn unread() -> u32 {
    ATTENTION.with(|a| a.borrow().unread)
}

fn bump_unread() {
    install();
    let Some(d) = document() else { return };
    let title = ATTENTION.with(|a| {
        let mut a = a.borrow_mut();
        a.unread += 1;
        let base = a.base_title.get_or_insert_with(|| d.title()).clone();
        format!("({}) {base}", a.unread)
    });
    d.set_title(&title);
}

/// The person switched notifications on (the browser may still refuse them).
pub fn wanted() -> bool {
    local_storage()
        .and_then(|s| s.get_item(PREFERENCE).ok().flatten())
        .is_some_and(|v| v == "on")
}

/// The browser's permission for notifications: `"granted"`, `"denied"`, `"default"`, or `"unsupported"`.
pub fn permission() -> &'static str {
    if !supported() {
        return "unsupported";
    }
    match Notification::permission() {
        NotificationPermission::Granted => "granted",
        NotificationPermission::Denied => "denied",
        _ => "default",
    }
}

fn supported() -> bool {
    js_sys::Reflect::has(&js_sys::global(), &"Notification".into()).unwrap_or(false)
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Asks the browser for permission and switches notifications on if granted. Returns the permission.
pub async fn enable() -> &'static str {
    if !supported() {
        return "unsupported";
    }
    if let Ok(promise) = Notification::request_permission() {
        let _ = JsFuture::from(promise).await;
    }
    let permission = permission();
    if permission == "granted" {
        if let Some(s) = local_storage() {
            let _ = s.set_item(PREFERENCE, "on");
        }
    }
    permission
}

/// Switches notifications off.
pub fn disable() {
    if let Some(s) = local_storage() {
        let _ = s.remove_item(PREFERENCE);
    }
}

fn show(title: &str, body: &str, tag: &str) {
    if !wanted() || permission() != "granted" {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    if let Ok(n) = Notification::new_with_options(title, &options) {
        // Clicking it brings the tab forward.
        let on_click = Closure::<dyn FnMut()>::new(|| {
            if let Some(w) = web_sys::window() {
                let _ = w.focus();
            }
        });
        n.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        on_click.forget(); // lives as long as the notification; one small closure per notification
    }
}

/// A chat message from `author` arrived. Counts it and notifies if the page is hidden.
pub fn message_arrived(author: &str, text: &str) {
    if !page_hidden() {
        return;
    }
    bump_unread();
    let mut preview: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().count() > PREVIEW_CHARS {
        preview.push('…');
    }
    show(&format!("{author} (Twain)"), &preview, "twain-message");
}

/// `from` is calling. Notifies if the page is hidden.
pub fn call_ringing(from: &str, video: bool) {
    if !page_hidden() {
        return;
    }
    let kind = if video { "video call" } else { "call" };
    show(
        &format!("{from} is calling (Twain)"),
        &format!("Incoming {kind}. Open the tab to answer."),
        "twain-call",
    );
}

/// Notifies (when hidden) when a call starts ringing in this room.
#[hook]
pub fn use_call_alerts(call: &CallController, peer_name: &str) {
    let name = use_mut_ref(String::new);
    *name.borrow_mut() = peer_name.to_string();
    let call = call.clone();
    use_effect_with((), move |_| {
        let ringing = Rc::new(Cell::new(false));
        let id = call.subscribe(Callback::from(move |view: CallView| match view.stage {
            CallStage::Incoming { video } => {
                if !ringing.replace(true) {
                    call_ringing(&name.borrow(), video);
                }
            }
            _ => ringing.set(false),
        }));
        move || call.unsubscribe(id)
    });
}
