//! One file in the conversation: name and size, a live progress bar (percentage, rate, time left), Cancel,
//! the sentence when it failed, and once received a Download link, an inline preview for images and Delete.

use std::rc::Rc;

use twain_protocol::transfer::{format_bytes, format_duration};
use yew::prelude::*;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

use crate::app::AppContext;
use crate::components::message_list::KeepNewest;
use crate::files::io::{join_blobs, open_parts, parts_size, ObjectUrl, Opened};
use crate::files::view::{FileItem, LiveHandle, Phase};
use crate::files::FileCommand;
use crate::time;

#[derive(Properties, PartialEq)]
pub struct TransferCardProps {
    pub item: FileItem,
    /// The other person's name, for sentences.
    pub peer: AttrValue,
    /// Whether the other person is connected now.
    pub connected: bool,
    /// A failed identity check holds transfers until the person decides.
    #[prop_or_default]
    pub held: bool,
    pub on_command: Callback<FileCommand>,
    /// Where the card finds its newest progress: it re-renders by itself when that changes, so the conversation
    /// around it does not.
    #[prop_or_default]
    pub live: LiveHandle,
}

/// "45% · 12.3 MB of 50.0 MB · 15.2 MB/s · 3 s left".
fn progress_line(item: &FileItem) -> String {
    let mut parts = vec![
        format!("{}%", item.percent()),
        format!("{} of {}", format_bytes(item.done), format_bytes(item.size)),
    ];
    if let Some(rate) = item.rate {
        parts.push(format!("{}/s", format_bytes(rate as u64)));
    }
    if let Some(left) = item.seconds_left {
        parts.push(format!("{} left", format_duration(left)));
    }
    parts.join(" · ")
}

#[function_component(TransferCard)]
pub fn transfer_card(props: &TransferCardProps) -> Html {
    {
        let redraw = use_force_update();
        use_effect_with(
            (props.item.id.clone(), props.live.clone()),
            move |(id, live)| {
                let watch = live
                    .0
                    .watch(id, Callback::from(move |()| redraw.force_update()));
                move || drop(watch)
            },
        );
    }
    let item = &props.live.0.apply(&props.item);
    // Progress re-renders only this card: if that changes its size, the conversation is told.
    let card_ref = use_node_ref();
    {
        let card_ref = card_ref.clone();
        let keep_newest = use_context::<KeepNewest>();
        use_effect_with(keep_newest, move |keep| {
            let observed = keep.clone().and_then(|keep| {
                let el = card_ref.cast::<web_sys::Element>()?;
                let resized = Closure::<dyn Fn()>::new(move || keep.0.emit(()));
                let observer =
                    web_sys::ResizeObserver::new(resized.as_ref().unchecked_ref()).ok()?;
                observer.observe(&el);
                Some((observer, resized))
            });
            move || {
                if let Some((observer, resized)) = observed {
                    observer.disconnect();
                    drop(resized);
                }
            }
        });
    }
    let ctx = use_context::<AppContext>().expect("app context");
    let opened = use_state(|| None::<Rc<Opened>>);
    let open_error = use_state(|| None::<String>);
    let local_preview = use_state(|| None::<Rc<ObjectUrl>>);

    // A received file: a download (and preview) built from its stored parts, revoked when the card goes away.
    // A sent picture no longer open on this page (after a reload) uses the copy kept when it was sent, if any.
    {
        let opened = opened.clone();
        let open_error = open_error.clone();
        let storage = ctx.storage.clone();
        let received = !item.from_me && item.phase == Phase::Received;
        let own_copy = item.from_me && item.phase == Phase::Delivered && item.local.is_none();
        use_effect_with(
            (item.id.clone(), received, own_copy, item.size),
            move |(id, received, own_copy, size)| {
                opened.set(None);
                let (id, size, received, own_copy) = (id.clone(), *size, *received, *own_copy);
                if received || own_copy {
                    wasm_bindgen_futures::spawn_local(async move {
                        let parts = storage.chunks(&id).await;
                        if own_copy {
                            // Only a whole copy is shown; none (a file that was not a picture) is normal.
                            let whole = parts
                                .as_ref()
                                .is_ok_and(|p| !p.is_empty() && parts_size(p) == size);
                            if !whole {
                                return;
                            }
                        }
                        let result = match parts {
                            Ok(parts) => open_parts(&parts, size).await,
                            Err(e) => Err(e.to_string()),
                        };
                        match result {
                            Ok(o) => opened.set(Some(Rc::new(o))),
                            Err(e) if received => open_error.set(Some(format!(
                                "The file is stored but could not be opened: {e}"
                            ))),
                            Err(_) => {}
                        }
                    });
                }
            },
        );
    }
    // A picked image: preview it from the file itself.
    {
        let local_preview = local_preview.clone();
        use_effect_with((item.local.clone(), item.image), move |(local, image)| {
            let url = match (local, image) {
                (Some(file), Some(kind)) => {
                    let file: web_sys::Blob = file.clone().into();
                    join_blobs(&[file], kind)
                        .and_then(|b| ObjectUrl::new(&b))
                        .ok()
                        .map(Rc::new)
                }
                _ => None,
            };
            local_preview.set(url);
        });
    }

    let name = item.name.clone();
    let peer = props.peer.to_string();
    let command = |make: fn(String) -> FileCommand| {
        let on_command = props.on_command.clone();
        let id = item.id.clone();
        Callback::from(move |_: MouseEvent| on_command.emit(make(id.clone())))
    };

    let percent = item.percent();
    // The bar's width is set through the style object, not a `style` attribute: the page's Content-Security-Policy
    // allows no inline style (client/static/_headers).
    let fill_ref = use_node_ref();
    {
        let fill_ref = fill_ref.clone();
        use_effect(move || {
            if let Some(fill) = fill_ref.cast::<web_sys::HtmlElement>() {
                let _ = fill.style().set_property("width", &format!("{percent}%"));
            }
        });
    }
    let bar = |verb: &str| {
        html! {
            <div class="progress" role="progressbar" aria-label={format!("{verb} {name}")}
                aria-valuemin="0" aria-valuemax="100" aria-valuenow={percent.to_string()}
                aria-valuetext={format!("{percent}%")}>
                <div class="progress-fill" ref={fill_ref.clone()}></div>
            </div>
        }
    };
    let status = |text: String| html! { <p class="file-status">{ text }</p> };

    let body = match &item.phase {
        phase @ (Phase::Queued
        | Phase::WaitingForPeer
        | Phase::Sending
        | Phase::Confirming
        | Phase::Receiving)
            if props.held && props.connected =>
        {
            let verb = if *phase == Phase::Receiving {
                "Receiving"
            } else {
                "Sending"
            };
            html! { <>
                { bar(verb) }
                { status(format!("Paused at {percent}% until you decide about the warning above.")) }
            </> }
        }
        Phase::Preparing => html! { <>
            { bar("Preparing") }
            { status(format!("Checking the file before sending · {percent}%")) }
        </> },
        Phase::Queued => html! { <>
            { bar("Sending") }
            { status("Queued: other files go first.".into()) }
        </> },
        Phase::WaitingForPeer => html! { <>
            { bar("Sending") }
            { status(if props.connected {
                format!("Waiting for {peer} to accept it…")
            } else {
                format!("Waiting for {peer} to come back. It continues when they do.")
            }) }
        </> },
        Phase::Sending => html! { <> { bar("Sending") } { status(progress_line(item)) } </> },
        Phase::Confirming => html! { <>
            { bar("Sending") }
            { status(format!("Sent. Waiting for {peer} to check it…")) }
        </> },
        Phase::Receiving if !props.connected => html! { <>
            { bar("Receiving") }
            { status(format!("Paused at {percent}%: waiting for {peer} to reconnect.")) }
        </> },
        Phase::Receiving => html! { <> { bar("Receiving") } { status(progress_line(item)) } </> },
        Phase::Verifying => html! { <>
            { bar("Receiving") }
            { status("Checking that it arrived intact (SHA-256)…".into()) }
        </> },
        Phase::Interrupted => html! { <>
            { bar("Receiving") }
            { status(format!(
                "Interrupted at {percent}%: {peer} no longer has this file open. What arrived is kept; ask again when they open it again."
            )) }
        </> },
        Phase::Orphaned => status(
            "Interrupted: this page was reloaded, so the file is no longer open here. Attach the same file again to resume."
                .into(),
        ),
        Phase::Received => status(format!("Received · {}", format_bytes(item.size))),
        Phase::Delivered => status(format!("Delivered · {}", format_bytes(item.size))),
        Phase::Failed(message) => html! { <p class="file-error" role="alert">{ message.clone() }</p> },
        Phase::Cancelled(message) => status(message.clone()),
    };

    let preview_url = opened
        .as_ref()
        .and_then(|o| o.preview.as_ref().map(|u| u.as_str().to_string()))
        .or_else(|| local_preview.as_ref().map(|u| u.as_str().to_string()));
    let preview = match preview_url {
        Some(url) => html! {
            <img class="file-preview" src={url} alt={format!("Preview of {name}")} loading="lazy" />
        },
        None => html! {},
    };

    let mut actions = Vec::new();
    if item.phase.is_active() || item.phase == Phase::Orphaned {
        actions.push(html! {
            <button type="button" aria-label={format!("Cancel {name}")} onclick={command(FileCommand::Cancel)}>{ "Cancel" }</button>
        });
    }
    if item.phase == Phase::Interrupted {
        actions.push(html! {
            <button type="button" aria-label={format!("Ask again for {name}")} onclick={command(FileCommand::Retry)}>{ "Ask again" }</button>
        });
    }
    if let Some(o) = opened.as_ref() {
        actions.push(html! {
            <a class="button primary" href={o.download.as_str().to_string()} download={item.download_name.clone()}
                aria-label={format!("Download {name}")}>{ "Download" }</a>
        });
    }
    if !item.phase.is_active() && item.phase != Phase::Orphaned {
        actions.push(html! {
            <button type="button" aria-label={format!("Delete {name}")} onclick={command(FileCommand::Delete)}>{ "Delete" }</button>
        });
    }

    let class = if item.from_me {
        "msg mine file"
    } else {
        "msg theirs file"
    };
    let who = if item.from_me {
        "You".to_string()
    } else {
        peer.clone()
    };
    html! {
        <li class={class} ref={card_ref}>
            <article class="bubble file-card" aria-label={format!("File {name}")}>
                <span class="author">{ who }</span>
                <p class="file-name">
                    <strong>{ name.clone() }</strong>{ " " }
                    <span class="file-size">{ format_bytes(item.size) }</span></p>
                { preview }
                { body }
                if let Some(e) = open_error.as_ref() { <p class="file-error" role="alert">{ e.clone() }</p> }
                if !actions.is_empty() { <div class="file-actions">{ for actions }</div> }
                <span class="meta">
                    <time datetime={time::iso(item.ts)} title={time::when(item.ts)}>{ time::clock(item.ts) }</time>
                </span>
            </article>
        </li>
    }
}
