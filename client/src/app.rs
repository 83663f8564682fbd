//! The app shell: opens storage, loads the identity, routes between the landing page and a room.
//!
//! Routes live in the URL fragment (`#/r/<room>`), which browsers never send to a server.

use std::rc::Rc;

use twain_protocol::ids::validate_room_id;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::components::landing::Landing;
use crate::components::room::RoomPage;
use crate::components::settings::SettingsPage;
use crate::storage::{Identity, Storage};

/// What every page can use: storage and who we are.
#[derive(Clone)]
pub struct AppContext {
    pub storage: Rc<Storage>,
    pub identity: Identity,
    pub set_identity: Callback<Identity>,
}

impl PartialEq for AppContext {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.storage, &other.storage) && self.identity == other.identity
    }
}

/// A page: the landing page, a room (`#/r/<room>`), or the settings (`#/settings`, or `#/settings/<room>` to
/// open that room's controls).
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Landing { error: Option<String> },
    Room(String),
    Settings(Option<String>),
}

/// Reads the route from `location.hash`.
pub fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    if let Some(rest) = hash.strip_prefix("#/settings") {
        let focus = rest
            .strip_prefix('/')
            .filter(|id| validate_room_id(id).is_ok())
            .map(str::to_string);
        return Route::Settings(focus);
    }
    match hash.strip_prefix("#/r/") {
        Some(id) => match validate_room_id(id) {
            Ok(()) => Route::Room(id.to_string()),
            Err(_) => Route::Landing {
                error: Some("That room link is not valid. Check that you copied all of it.".into()),
            },
        },
        None => Route::Landing { error: None },
    }
}

/// The shareable link of a room.
pub fn room_link(room_id: &str) -> String {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    format!("{origin}/#/r/{room_id}")
}

pub fn go_to_room(room_id: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_hash(&format!("/r/{room_id}"));
    }
}

enum Boot {
    Loading,
    Ready(Rc<Storage>, Identity),
    Failed(String),
}

#[function_component(App)]
pub fn app() -> Html {
    let boot = use_state(|| Boot::Loading);
    let route = use_state(current_route);

    {
        let boot = boot.clone();
        use_effect_with((), move |_| {
            spawn_local(async move {
                let result = async {
                    let storage = Storage::open().await?;
                    let identity = storage.load_or_create_identity().await?;
                    Ok::<_, crate::storage::StorageError>((storage, identity))
                }
                .await;
                boot.set(match result {
                    Ok((storage, identity)) => Boot::Ready(Rc::new(storage), identity),
                    Err(e) => Boot::Failed(e.to_string()),
                });
            });
        });
    }

    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let on_hash = Closure::<dyn FnMut()>::new(move || route.set(current_route()));
            let window = web_sys::window().expect("a window");
            let _ = window
                .add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
            move || {
                let _ = window.remove_event_listener_with_callback(
                    "hashchange",
                    on_hash.as_ref().unchecked_ref(),
                );
                drop(on_hash);
            }
        });
    }

    let body = match &*boot {
        Boot::Loading => html! { <p class="boot" role="status">{ "Opening Twain…" }</p> },
        Boot::Failed(why) => html! {
            <div class="card error-card" role="alert">
                <h2>{ "Twain cannot start" }</h2>
                <p>{ format!("Twain keeps your identity and history in this browser, but it could not open its storage: {why}") }</p>
                <p>{ "Private windows in some browsers block storage. Try a normal window." }</p>
            </div>
        },
        Boot::Ready(storage, identity) => {
            let set_identity = {
                let boot = boot.clone();
                let storage = storage.clone();
                Callback::from(move |id: Identity| boot.set(Boot::Ready(storage.clone(), id)))
            };
            let ctx = AppContext {
                storage: storage.clone(),
                identity: identity.clone(),
                set_identity,
            };
            let page = match &*route {
                Route::Landing { error } => html! { <Landing error={error.clone()} /> },
                Route::Room(id) => html! { <RoomPage key={id.clone()} room_id={id.clone()} /> },
                Route::Settings(focus) => html! { <SettingsPage focus={focus.clone()} /> },
            };
            html! { <ContextProvider<AppContext> context={ctx}>{ page }</ContextProvider<AppContext>> }
        }
    };

    html! {
        <div class="app">
            <header class="topbar">
                <a class="brand" href="#/">{ "Twain" }</a>
                <span class="tagline">{ "private 1:1 chat, browser to browser" }</span>
                <a class="settings-link" href="#/settings">{ "Settings" }</a>
            </header>
            <main class="content">{ body }</main>
        </div>
    }
}
