//! The landing page: who you are, start a room, join one, reopen one you have been in.

use twain_protocol::ids::parse_room_input;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::app::{go_to_room, AppContext};
use crate::components::rename::RenameForm;
use crate::storage::RoomRecord;

#[derive(Properties, PartialEq)]
pub struct LandingProps {
    /// Why we landed here instead of a room (a bad link), if so.
    #[prop_or_default]
    pub error: Option<String>,
}

#[function_component(Landing)]
pub fn landing(props: &LandingProps) -> Html {
    let ctx = use_context::<AppContext>().expect("app context");
    let rooms = use_state(|| None::<Vec<RoomRecord>>);
    let join_input = use_state(String::new);
    let join_error = use_state(|| props.error.clone());
    let keep_nothing = use_state(|| false);

    {
        let rooms = rooms.clone();
        let storage = ctx.storage.clone();
        use_effect_with((), move |_| {
            spawn_local(async move {
                rooms.set(Some(storage.rooms().await.unwrap_or_default()));
            });
        });
    }

    let new_room = {
        let storage = ctx.storage.clone();
        let keep_nothing = *keep_nothing;
        Callback::from(move |_| {
            let id = crate::random::new_id();
            let storage = storage.clone();
            spawn_local(async move {
                // A keep-nothing room is marked first, so not even its record is written (storage/volatile.rs).
                if keep_nothing {
                    let _ = storage.set_keep_nothing(&id, true).await;
                }
                // Remember that we created it (it shows in "Your rooms" even before anyone joins), with the owner
                // key that lets this browser remove or ban the other person (components/moderation.rs).
                let _ = storage.touch_room(&id, true).await;
                let _ = storage
                    .set_room_owner_secret(&id, &crate::components::moderation::new_owner_key())
                    .await;
                go_to_room(&id);
            });
        })
    };

    let on_join_input = {
        let join_input = join_input.clone();
        Callback::from(move |e: InputEvent| {
            join_input.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let on_join = {
        let join_input = join_input.clone();
        let join_error = join_error.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match parse_room_input(&join_input) {
                Ok(id) => go_to_room(&id),
                Err(err) => join_error.set(Some(format!("{}.", capitalize(&err.to_string())))),
            }
        })
    };

    let room_list = match &*rooms {
        None => html! { <p class="muted">{ "Loading your rooms…" }</p> },
        Some(list) if list.is_empty() => {
            html! { <p class="muted">{ "Rooms you open appear here, so you can come back to them." }</p> }
        }
        Some(list) => html! {
            <ul class="room-list">
                { for list.iter().map(room_item) }
            </ul>
        },
    };

    html! {
        <div class="landing">
            <section class="card intro" aria-labelledby="intro-title">
                <h1 id="intro-title">{ "Talk directly, browser to browser" }</h1>
                <p>{ "Twain connects two people's browsers directly. Messages go straight to the other person and are kept only in your two browsers." }</p>
                <p class="muted">{ "There is no inbox: both of you need to have the room open at the same time." }</p>
                <button class="primary big" onclick={new_room}>{ "New room" }</button>
                <label class="check">
                    <input type="checkbox" checked={*keep_nothing}
                        onchange={let k = keep_nothing.clone(); Callback::from(move |_| k.set(!*k))} />
                    { " Keep nothing: save no message or file of the new room in this browser" }
                </label>
            </section>

            <section class="card" aria-labelledby="join-title">
                <h2 id="join-title">{ "Join a room" }</h2>
                <form class="join" onsubmit={on_join}>
                    <label for="join-input">{ "Room link or code" }</label>
                    <div class="row">
                        <input id="join-input" type="text" value={(*join_input).clone()} oninput={on_join_input}
                            placeholder="Paste the link you were sent" autocomplete="off" spellcheck="false"
                            aria-describedby={join_error.is_some().then_some("join-error")} />
                        <button type="submit">{ "Join" }</button>
                    </div>
                    if let Some(msg) = &*join_error {
                        <p class="field-error" id="join-error" role="alert">{ msg }</p>
                    }
                </form>
            </section>

            <section class="card" aria-labelledby="me-title">
                <h2 id="me-title">{ "You" }</h2>
                <p>{ "You appear to others as " }<strong>{ &ctx.identity.name }</strong>{ "." }</p>
                <RenameForm id="landing" />
                <p class="muted small">{ format!("Identity {} — made by this browser, no account needed.", short_id(&ctx.identity.peer_id)) }</p>
            </section>

            <section class="card" aria-labelledby="rooms-title">
                <h2 id="rooms-title">{ "Your rooms" }</h2>
                { room_list }
            </section>
        </div>
    }
}

fn room_item(room: &RoomRecord) -> Html {
    let title = match &room.peer_name {
        Some(name) => format!("Room with {name}"),
        None if room.created_by_me => "Room you created (nobody has joined yet)".to_string(),
        None => format!("Room {}", short_id(&room.room_id)),
    };
    html! {
        <li key={room.room_id.clone()}>
            <a href={format!("#/r/{}", room.room_id)}>{ title }</a>
            <span class="muted small">{ format!(" · last opened {}", crate::time::when(room.last_opened_ms)) }</span>
        </li>
    }
}

/// The first characters of an id, enough to tell ids apart by eye.
pub fn short_id(id: &str) -> String {
    id.chars().take(6).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
