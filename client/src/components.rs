//! One file per view.

pub mod attach;
pub mod call;
pub mod composer;
pub mod landing;
pub mod message_list;
pub mod moderation;
pub mod rename;
pub mod room;
pub mod settings;
pub mod transfer_card;
pub mod verify;

use yew::{Callback, KeyboardEvent, NodeRef};

/// A keydown handler that runs `action` on Escape (closing a question or a panel), and nothing else.
pub fn on_escape(action: Callback<()>) -> Callback<KeyboardEvent> {
    Callback::from(move |e: KeyboardEvent| {
        if e.key() == "Escape" {
            e.prevent_default();
            action.emit(());
        }
    })
}

/// Moves the keyboard focus to the element of `node`, if it is on the page.
pub fn focus(node: &NodeRef) -> bool {
    node.cast::<web_sys::HtmlElement>()
        .is_some_and(|el| el.focus().is_ok())
}
