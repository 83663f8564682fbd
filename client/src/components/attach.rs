//! Picking files to send: an "Attach file" button (opening a hidden multi-file input), dropping files anywhere on
//! the room page (with a visible hint while dragging) and pasting files. Also shows the sentences about files
//! that were not sent (too big, not connected).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use twain_protocol::transfer::{format_bytes, MAX_FILE_BYTES};
use wasm_bindgen::prelude::*;
use web_sys::{ClipboardEvent, DataTransfer, DragEvent, File, HtmlInputElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AttachProps {
    /// Files can be sent now (the other person is connected).
    pub enabled: bool,
    /// The other person's name, for sentences.
    pub peer: AttrValue,
    pub on_pick: Callback<Vec<File>>,
    /// A sentence to show (e.g. a drop while not connected).
    pub on_notice: Callback<String>,
    pub notices: Vec<String>,
    pub on_dismiss: Callback<usize>,
}

/// The drop hint hides this long after the last `dragover` (the pointer left, or the drag was cancelled).
const DRAG_LINGER_MS: u32 = 400;

fn files_of(list: Option<web_sys::FileList>) -> Vec<File> {
    let Some(list) = list else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

fn carries_files(dt: &DataTransfer) -> bool {
    dt.types().includes(&JsValue::from_str("Files"), 0)
}

/// The latest props, read by the page-wide listeners (registered once).
struct Latest {
    enabled: bool,
    peer: String,
    on_pick: Callback<Vec<File>>,
    on_notice: Callback<String>,
}

impl Latest {
    fn deliver(&self, files: Vec<File>) {
        if files.is_empty() {
            return;
        }
        if self.enabled {
            self.on_pick.emit(files);
        } else {
            self.on_notice.emit(format!(
                "You can send files once {} is connected; nothing was sent.",
                self.peer
            ));
        }
    }
}

#[function_component(AttachFiles)]
pub fn attach_files(props: &AttachProps) -> Html {
    let input_ref = use_node_ref();
    let dragging = use_state(|| false);
    let latest = use_mut_ref(|| Latest {
        enabled: props.enabled,
        peer: props.peer.to_string(),
        on_pick: props.on_pick.clone(),
        on_notice: props.on_notice.clone(),
    });
    *latest.borrow_mut() = Latest {
        enabled: props.enabled,
        peer: props.peer.to_string(),
        on_pick: props.on_pick.clone(),
        on_notice: props.on_notice.clone(),
    };

    // Drag and drop anywhere on the page, and paste.
    {
        let latest = latest.clone();
        let dragging = dragging.clone();
        use_effect_with((), move |_| {
            let window = web_sys::window().expect("a window");
            let document = window.document().expect("a document");
            let hide_timer: Rc<RefCell<Option<Timeout>>> = Rc::new(RefCell::new(None));
            // Mirrors `dragging` (a state handle captured here would keep reading its first value).
            let shown = Rc::new(Cell::new(false));
            let show = {
                let dragging = dragging.clone();
                let shown = shown.clone();
                move |on: bool| {
                    if shown.replace(on) != on {
                        dragging.set(on);
                    }
                }
            };

            let on_dragover = {
                let show = show.clone();
                let hide_timer = hide_timer.clone();
                Closure::<dyn FnMut(DragEvent)>::new(move |e: DragEvent| {
                    let Some(dt) = e.data_transfer().filter(carries_files) else {
                        return;
                    };
                    e.prevent_default();
                    dt.set_drop_effect("copy");
                    show(true);
                    let show = show.clone();
                    *hide_timer.borrow_mut() =
                        Some(Timeout::new(DRAG_LINGER_MS, move || show(false)));
                })
            };
            let on_drop = {
                let show = show.clone();
                let hide_timer = hide_timer.clone();
                let latest = latest.clone();
                Closure::<dyn FnMut(DragEvent)>::new(move |e: DragEvent| {
                    let Some(dt) = e.data_transfer().filter(carries_files) else {
                        return;
                    };
                    e.prevent_default();
                    hide_timer.borrow_mut().take();
                    show(false);
                    latest.borrow().deliver(files_of(dt.files()));
                })
            };
            let on_paste = {
                let latest = latest.clone();
                Closure::<dyn FnMut(ClipboardEvent)>::new(move |e: ClipboardEvent| {
                    let files = files_of(e.clipboard_data().and_then(|dt| dt.files()));
                    if !files.is_empty() {
                        // Files only: pasting text into the message box works as usual.
                        e.prevent_default();
                        latest.borrow().deliver(files);
                    }
                })
            };
            let _ = window
                .add_event_listener_with_callback("dragover", on_dragover.as_ref().unchecked_ref());
            let _ =
                window.add_event_listener_with_callback("drop", on_drop.as_ref().unchecked_ref());
            let _ = document
                .add_event_listener_with_callback("paste", on_paste.as_ref().unchecked_ref());
            move || {
                let _ = window.remove_event_listener_with_callback(
                    "dragover",
                    on_dragover.as_ref().unchecked_ref(),
                );
                let _ = window
                    .remove_event_listener_with_callback("drop", on_drop.as_ref().unchecked_ref());
                let _ = document.remove_event_listener_with_callback(
                    "paste",
                    on_paste.as_ref().unchecked_ref(),
                );
                hide_timer.borrow_mut().take();
                drop((on_dragover, on_drop, on_paste));
            }
        });
    }

    let open_picker = {
        let input_ref = input_ref.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(input) = input_ref.cast::<HtmlInputElement>() {
                input.click();
            }
        })
    };
    let on_change = {
        let latest = latest.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let files = files_of(input.files());
            // So picking the same file again fires `change` again.
            input.set_value("");
            latest.borrow().deliver(files);
        })
    };

    html! {
        <div class="attach">
            <div class="attach-row">
                <button type="button" class="attach-button" onclick={open_picker} disabled={!props.enabled}
                    aria-describedby="attach-hint">{ "Attach file" }</button>
                <label for="attach-input" class="visually-hidden">{ "Files to send" }</label>
                <input id="attach-input" type="file" multiple=true class="visually-hidden" tabindex="-1"
                    ref={input_ref} onchange={on_change} />
                <p id="attach-hint" class="hint">
                    <span class="drop">{ "Or drop or paste files here. " }</span>
                    { format!("Up to {} each, sent directly to {}.", format_bytes(MAX_FILE_BYTES), props.peer) }
                </p>
            </div>
            { for props.notices.iter().enumerate().map(|(i, text)| {
                let on_dismiss = props.on_dismiss.clone();
                html! {
                    <div class="notice file-notice" role="alert" key={format!("{i}-{text}")}>
                        <p>{ text.clone() }</p>
                        <button type="button" class="link" onclick={Callback::from(move |_| on_dismiss.emit(i))}>{ "Dismiss" }</button>
                    </div>
                }
            }) }
            if *dragging {
                <div class="drop-hint" role="status">
                    <p>{ format!("Drop files to send them to {}", props.peer) }</p>
                </div>
            }
        </div>
    }
}
