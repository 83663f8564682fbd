//! The settings page (`#/settings`, or `#/settings/<room>` to open one room's controls) and the room page's
//! "this room's data" panel: the data the person controls.
//!
//! - You: rename (the key and id stay), the identity id.
//! - Storage: how much this site uses (`navigator.storage.estimate()`), and asking the browser to keep it.
//! - Notifications: the optional browser notification while the tab is hidden.
//! - Per room: clear history, delete received files, leave and forget the room.
//! - Everything: export (one zip: the data as JSON plus the received files) and delete all.

use std::rc::Rc;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use yew::prelude::*;

use crate::app::AppContext;
use crate::components::rename::RenameForm;
use crate::identity::{TrustController, TrustView};
use crate::storage::{RoomRecord, Storage};
use twain_protocol::transfer::format_bytes;

/// A storage action of the settings page: the sentence to show when it is done (or why it failed).
type Action =
    Rc<dyn Fn(Rc<Storage>) -> futures::future::LocalBoxFuture<'static, Result<String, String>>>;

#[derive(Properties, PartialEq)]
pub struct ConfirmProps {
    /// The button that starts the action.
    pub label: AttrValue,
    /// The question asked before doing it.
    pub question: AttrValue,
    /// The button that does it.
    pub confirm: AttrValue,
    pub on_confirm: Callback<()>,
    #[prop_or_default]
    pub disabled: bool,
}

/// A destructive action in two steps: the button, then a question with "do it" / "Cancel".
#[function_component(ConfirmButton)]
pub fn confirm_button(props: &ConfirmProps) -> Html {
    let asking = use_state(|| false);
    if !*asking {
        let asking = asking.clone();
        return html! {
            <button disabled={props.disabled} onclick={Callback::from(move |_| asking.set(true))}>{ props.label.clone() }</button>
        };
    }
    let yes = {
        let asking = asking.clone();
        let on_confirm = props.on_confirm.clone();
        Callback::from(move |_| {
            asking.set(false);
            on_confirm.emit(());
        })
    };
    let no = Callback::from(move |_| asking.set(false));
    html! {
        <span class="confirm" role="group" aria-label={props.label.clone()}>
            <span class="confirm-question">{ props.question.clone() }</span>
            <button class="danger" onclick={yes}>{ props.confirm.clone() }</button>
            <button onclick={no}>{ "Cancel" }</button>
        </span>
    }
}

#[derive(Properties, PartialEq)]
pub struct SettingsProps {
    /// A room whose controls to open (coming from that room's page).
    #[prop_or_default]
    pub focus: Option<String>,
}

#[derive(Clone, PartialEq)]
struct Estimate {
    usage: f64,
    quota: f64,
    persisted: Option<bool>,
}

async fn estimate() -> Option<Estimate> {
    let storage = web_sys::window()?.navigator().storage();
    let value = JsFuture::from(storage.estimate().ok()?).await.ok()?;
    let value: web_sys::StorageEstimate = value.into();
    let persisted = match storage.persisted() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_bool()),
        Err(_) => None,
    };
    Some(Estimate {
        usage: value.get_usage().unwrap_or(0.0),
        quota: value.get_quota().unwrap_or(0.0),
        persisted,
    })
}

async fn request_persistence() -> Option<bool> {
    let storage = web_sys::window()?.navigator().storage();
    JsFuture::from(storage.persist().ok()?)
        .await
        .ok()
        .and_then(|v: JsValue| v.as_bool())
}

#[function_component(SettingsPage)]
pub fn settings_page(props: &SettingsProps) -> Html {
    let ctx = use_context::<AppContext>().expect("app context");
    let rooms = use_state(|| None::<Vec<RoomRecord>>);
    let usage = use_state(|| None::<Estimate>);
    let reload = use_state(|| 0u32);
    let status = use_state(|| None::<String>);
    let notify_state = use_state(crate::notify::permission);
    let notify_on = use_state(crate::notify::wanted);
    let busy = use_state(|| false);

    {
        let rooms = rooms.clone();
        let usage = usage.clone();
        let storage = ctx.storage.clone();
        use_effect_with(*reload, move |_| {
            spawn_local(async move {
                rooms.set(Some(storage.rooms().await.unwrap_or_default()));
                usage.set(estimate().await);
            });
        });
    }

    let refresh = {
        let reload = reload.clone();
        Callback::from(move |()| reload.set(*reload + 1))
    };
    // Runs a storage action, then says how it went and refreshes the page's figures.
    let act: Rc<dyn Fn(Action)> = {
        let status = status.clone();
        let refresh = refresh.clone();
        let storage = ctx.storage.clone();
        Rc::new(move |action: Action| {
            let status = status.clone();
            let refresh = refresh.clone();
            let storage = storage.clone();
            spawn_local(async move {
                let text = match action(storage).await {
                    Ok(done) | Err(done) => done,
                };
                status.set(Some(text));
                refresh.emit(());
            });
        })
    };

    let on_persist = {
        let usage = usage.clone();
        let status = status.clone();
        Callback::from(move |_| {
            let usage = usage.clone();
            let status = status.clone();
            spawn_local(async move {
                let granted = request_persistence().await;
                status.set(Some(match granted {
                    Some(true) => "Your browser will keep Twain's data even when space runs low.".into(),
                    _ => "Your browser did not agree to keep Twain's data for sure. It usually agrees once you use Twain more often, or bookmark it.".into(),
                }));
                usage.set(estimate().await);
            });
        })
    };

    let on_notify = {
        let notify_state = notify_state.clone();
        let notify_on = notify_on.clone();
        let status = status.clone();
        Callback::from(move |_| {
            if *notify_on {
                crate::notify::disable();
                notify_on.set(false);
                return;
            }
            let notify_state = notify_state.clone();
            let notify_on = notify_on.clone();
            let status = status.clone();
            spawn_local(async move {
                let permission = crate::notify::enable().await;
                notify_state.set(permission);
                notify_on.set(crate::notify::wanted());
                if permission != "granted" {
                    status.set(Some(
                        "Your browser did not allow notifications. You can allow them in its site settings.".into(),
                    ));
                }
            });
        })
    };

    let on_export = {
        let storage = ctx.storage.clone();
        let status = status.clone();
        let busy = busy.clone();
        Callback::from(move |_| {
            let storage = storage.clone();
            let status = status.clone();
            let busy = busy.clone();
            busy.set(true);
            status.set(Some("Preparing the export…".into()));
            spawn_local(async move {
                let progress = {
                    let status = status.clone();
                    move |text: String| status.set(Some(text))
                };
                let result = crate::export::export_zip(&storage, progress).await;
                let day = js_sys::Date::new_0()
                    .to_iso_string()
                    .as_string()
                    .unwrap_or_default()
                    .chars()
                    .take(10)
                    .collect::<String>();
                let text = match result.and_then(|zip| {
                    crate::export::download(&zip, &format!("twain-export-{day}.zip")).map(|()| zip.size())
                }) {
                    Ok(size) => format!(
                        "Export ready: twain-export-{day}.zip ({}). It holds your rooms, messages and received files.",
                        format_bytes(size as u64)
                    ),
                    Err(e) => format!("The export failed: {e}"),
                };
                status.set(Some(text));
                busy.set(false);
            });
        })
    };

    let on_delete_all = {
        let status = status.clone();
        Callback::from(move |()| {
            let status = status.clone();
            status.set(Some("Deleting everything…".into()));
            spawn_local(async move {
                if let Err(e) = crate::export::delete_everything().await {
                    status.set(Some(format!("Deleting failed: {e}")));
                }
            });
        })
    };

    let usage_text = match &*usage {
        Some(e) => format!(
            "This site uses {} of the {} your browser allows it.",
            format_bytes(e.usage as u64),
            format_bytes(e.quota as u64)
        ),
        None => "Your browser does not say how much space Twain uses.".into(),
    };
    let persisted_text = match usage.as_ref().and_then(|e| e.persisted) {
        Some(true) => "Your browser keeps Twain's data even when space runs low.",
        _ => "Your browser may delete Twain's data by itself when space runs low.",
    };
    let notify_text = match (*notify_on, *notify_state) {
        (_, "unsupported") => "This browser cannot show notifications.",
        (true, "granted") => {
            "On: Twain tells you about new messages and calls while its tab is hidden."
        }
        (_, "denied") => "Blocked in your browser's site settings.",
        _ => "Off.",
    };

    let room_list = match &*rooms {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(list) if list.is_empty() => {
            html! { <p class="muted">{ "Twain keeps no room in this browser." }</p> }
        }
        Some(list) => html! {
            <ul class="room-list settings-rooms">
                { for list.iter().map(|room| room_controls(room, props.focus.as_deref() == Some(room.room_id.as_str()), act.clone())) }
            </ul>
        },
    };

    html! {
        <div class="settings">
            <h1>{ "Settings and your data" }</h1>
            if let Some(text) = &*status {
                <p class="card settings-status" role="status">{ text.clone() }</p>
            }
            <section class="card" aria-labelledby="settings-you">
                <h2 id="settings-you">{ "You" }</h2>
                <RenameForm id="settings" />
                <p class="muted small">{ format!("Your identity: {}. It is made from a key that never leaves this browser; renaming keeps it.", ctx.identity.peer_id) }</p>
            </section>
            <section class="card" aria-labelledby="settings-storage">
                <h2 id="settings-storage">{ "Storage" }</h2>
                <p>{ usage_text }</p>
                <p>{ persisted_text }</p>
                if usage.as_ref().and_then(|e| e.persisted) != Some(true) {
                    <button onclick={on_persist}>{ "Ask the browser to keep Twain's data" }</button>
                }
            </section>
            <section class="card" aria-labelledby="settings-notify">
                <h2 id="settings-notify">{ "Notifications" }</h2>
                <p>{ "While Twain's tab is hidden, its title shows how many messages arrived." }</p>
                <p>{ notify_text }</p>
                if *notify_state != "unsupported" && *notify_state != "denied" {
                    <button onclick={on_notify}>
                        { if *notify_on && *notify_state == "granted" { "Turn off notifications" } else { "Turn on notifications" } }
                    </button>
                }
            </section>
            <section class="card" aria-labelledby="settings-rooms">
                <h2 id="settings-rooms">{ "Rooms" }</h2>
                <p class="muted small">{ "Rooms that keep nothing are not listed: nothing of them is stored." }</p>
                { room_list }
            </section>
            <section class="card" aria-labelledby="settings-all">
                <h2 id="settings-all">{ "Everything" }</h2>
                <p>{ "Export makes one zip file with your rooms and messages (as JSON) and every file you received." }</p>
                <div class="row wrap">
                    <button onclick={on_export} disabled={*busy}>{ "Export all data" }</button>
                    <ConfirmButton label="Delete everything" confirm="Delete everything now"
                        question="This deletes your identity and every room, message and file Twain keeps in this browser. It cannot be undone."
                        on_confirm={on_delete_all} />
                </div>
            </section>
        </div>
    }
}

fn room_controls(room: &RoomRecord, focus: bool, act: Rc<dyn Fn(Action)>) -> Html {
    let title = match &room.peer_name {
        Some(name) => format!("Room with {name}"),
        None => format!(
            "Room {}",
            crate::components::landing::short_id(&room.room_id)
        ),
    };
    let action = |make: fn(String) -> Action| {
        let act = act.clone();
        let id = room.room_id.clone();
        Callback::from(move |()| act(make(id.clone())))
    };
    let clear = action(|id| {
        Rc::new(move |s: Rc<Storage>| {
            let id = id.clone();
            Box::pin(async move {
                s.clear_history(&id)
                    .await
                    .map(|()| "The room's history was deleted.".to_string())
                    .map_err(|e| e.to_string())
            })
        })
    });
    let files = action(|id| {
        Rc::new(move |s: Rc<Storage>| {
            let id = id.clone();
            Box::pin(async move {
                s.delete_received_files(&id)
                    .await
                    .map(|n| match n {
                        0 => "There were no received files to delete.".to_string(),
                        1 => "1 received file was deleted.".to_string(),
                        n => format!("{n} received files were deleted."),
                    })
                    .map_err(|e| e.to_string())
            })
        })
    });
    let forget = action(|id| {
        Rc::new(move |s: Rc<Storage>| {
            let id = id.clone();
            Box::pin(async move {
                s.forget_room(&id)
                    .await
                    .map(|()| "You left the room and Twain forgot it.".to_string())
                    .map_err(|e| e.to_string())
            })
        })
    });
    let verified = if room.peer_verified {
        " · verified"
    } else {
        ""
    };
    html! {
        <li key={room.room_id.clone()} id={format!("room-{}", room.room_id)}>
            <details open={focus}>
                <summary>
                    <strong>{ title.clone() }</strong>
                    <span class="muted small">{ format!(" · last opened {}{verified}", crate::time::when(room.last_opened_ms)) }</span>
                </summary>
                <div class="row wrap room-data-actions" role="group" aria-label={format!("{title}: data")}>
                    <a class="button" href={format!("#/r/{}", room.room_id)}>{ "Open" }</a>
                    <ConfirmButton label="Clear history" confirm="Clear history"
                        question="Delete every message of this room from this browser?" on_confirm={clear} />
                    <ConfirmButton label="Delete received files" confirm="Delete files"
                        question="Delete the files you received in this room from this browser?" on_confirm={files} />
                    <ConfirmButton label="Leave and forget" confirm="Leave and forget"
                        question="Delete this room and everything of it from this browser?" on_confirm={forget} />
                </div>
            </details>
        </li>
    }
}

#[derive(Properties, PartialEq)]
pub struct RoomDataProps {
    pub room_id: AttrValue,
    pub controller: Rc<TrustController>,
    pub view: TrustView,
}

/// On the room page: "keep nothing" and the way to this room's stored data.
#[function_component(RoomDataPanel)]
pub fn room_data_panel(props: &RoomDataProps) -> Html {
    let keep_nothing = props.view.keep_nothing;
    let on_toggle = {
        let c = props.controller.clone();
        Callback::from(move |_| c.set_keep_nothing(!keep_nothing))
    };
    html! {
        <details class="room-data" open={keep_nothing}>
            <summary>{ if keep_nothing { "This browser keeps nothing of this room" } else { "This room's data" } }</summary>
            <label class="check">
                <input type="checkbox" checked={keep_nothing} onchange={on_toggle} />
                { " Keep nothing: no message or file of this room is saved in this browser" }
            </label>
            <p class="muted small">
                if keep_nothing {
                    { "The conversation lives only in this page: closing or reloading it erases it. The other person is told." }
                } else {
                    { "Turning this on also deletes what this browser already saved of this room (it stays on this page until you close it)." }
                }
            </p>
            if !keep_nothing {
                <a href={format!("#/settings/{}", props.room_id)}>{ "Clear history, delete files or forget this room…" }</a>
            }
        </details>
    }
}
