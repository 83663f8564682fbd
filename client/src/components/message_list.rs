//! The conversation: day separators, mine vs theirs, time, delivered ticks, system notices.

use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::components::focus;
use crate::components::transfer_card::TransferCard;
use crate::files::view::{FileItem, LiveHandle};
use crate::files::FileCommand;
use crate::linkify::{self, Segment};
use crate::state::Messages;
use crate::storage::{MessageKind, StoredMessage};
use crate::time;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub messages: Messages,
    pub loaded: bool,
    /// File transfers, oldest first: shown among the messages by time.
    #[prop_or_default]
    pub files: Vec<FileItem>,
    /// The other person's name, for the file cards' sentences.
    #[prop_or_default]
    pub peer: AttrValue,
    #[prop_or_default]
    pub connected: bool,
    /// A failed identity check holds file transfers until the person decides.
    #[prop_or_default]
    pub files_held: bool,
    #[prop_or_default]
    pub on_file: Callback<FileCommand>,
    /// The newest progress of the files in flight, which their cards follow by themselves.
    #[prop_or_default]
    pub live: LiveHandle,
    /// The person chose to answer this message. Keep it the same callback across renders: every row gets it.
    #[prop_or_default]
    pub on_reply: Callback<Rc<StoredMessage>>,
    /// The person chose to change one of their messages. The same callback across renders, too.
    #[prop_or_default]
    pub on_edit: Callback<Rc<StoredMessage>>,
    /// The person deleted a message, for this browser or for both. The same callback across renders, too.
    #[prop_or_default]
    pub on_delete: Callback<(Rc<StoredMessage>, Deletion)>,
}

/// How far a deletion goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// This browser's copy only.
    ForMe,
    /// One of our own messages, in both browsers (the other one is asked to delete its copy).
    ForEveryone,
}

/// Handed to the cards in the conversation: a card that changes size without the conversation rendering (its
/// progress line wrapping onto a second line) calls it, so a conversation that follows the newest message stays at
/// the bottom.
#[derive(Clone, PartialEq)]
pub struct KeepNewest(pub Callback<()>);

/// A long conversation first shows its newest this many messages; "Show earlier messages" adds as many again. (Each
/// shown message is a dozen elements to build and lay out: thousands of them made opening the room slow.)
pub const PAGE_MESSAGES: usize = 300;

/// How close to the bottom (in CSS pixels) still counts as reading the newest messages.
const BOTTOM_SLACK_PX: i32 = 48;

/// Messages shown above the one a quote leads to, when it was among the earlier ones not shown.
const JUMP_CONTEXT: usize = 20;

/// The id of a message's row in the page.
fn row_id(key: &str) -> String {
    format!("msg-{key}")
}

/// A message's text shortened to about `max` characters on one line, for a quote.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > max {
            let cut: String = out.chars().take(max).collect();
            return format!("{}…", cut.trim_end());
        }
    }
    out
}

/// Brings the row of message `key` into the middle of the view, marks it for a moment and gives it the focus
/// (so a keyboard or screen reader user goes on from there). Nothing if it is not on the page.
fn show_message(key: &str) {
    let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(&row_id(key)))
    else {
        return;
    };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Center);
    el.scroll_into_view_with_scroll_into_view_options(&options);
    // Taken off and put back (a layout read in between) so that the highlight runs again on a second visit.
    let classes = el.class_list();
    let _ = classes.remove_1("flash");
    let _ = el.client_height();
    let _ = classes.add_1("flash");
    if let Some(el) = el.dyn_ref::<web_sys::HtmlElement>() {
        let _ = el.set_attribute("tabindex", "-1");
        let options = web_sys::FocusOptions::new();
        options.set_prevent_scroll(true);
        let _ = el.focus_with_options(&options);
    }
}

/// How far the list is scrolled up from its bottom, in CSS pixels.
fn gap_to_bottom(el: &web_sys::Element) -> i32 {
    el.scroll_height() - el.scroll_top() - el.client_height()
}

#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list_ref = use_node_ref();
    // Whether the view follows the newest message: true until the person scrolls up to read, true again once they
    // are back at the bottom (or send something themselves).
    let follow = use_mut_ref(|| true);
    // Items seen at the last render (messages, files), to tell what is new.
    let seen = use_mut_ref(|| (0usize, 0usize));
    // New messages and files from the other person that arrived while the person was reading further up.
    let unseen = use_state(|| 0usize);
    // How many of the oldest messages are not shown, once the history is loaded. A count from the start: messages
    // arriving later do not push the oldest shown one out from under the person reading it.
    let hidden_cell = use_mut_ref(|| None::<usize>);
    let redraw = use_force_update();
    // After earlier messages were added above: how far the content's end was below the top of the view, to keep
    // what the person was reading where it was.
    let restore = use_mut_ref(|| None::<i32>);
    // A quote's message that was among the hidden ones: shown after the render that adds it.
    let pending_jump = use_mut_ref(|| None::<String>);
    // The conversation as last rendered, for the callbacks that the rows keep across renders.
    let latest = use_mut_ref(Messages::default);
    *latest.borrow_mut() = props.messages.clone();
    {
        let pending_jump = pending_jump.clone();
        let list_ref = list_ref.clone();
        let follow = follow.clone();
        let restore = restore.clone();
        let seen = seen.clone();
        let unseen = unseen.clone();
        let counts = (props.messages.len(), props.files.len());
        let before = *seen.borrow();
        let added_messages = props
            .messages
            .iter()
            .rev()
            .take(counts.0.saturating_sub(before.0));
        let added_files = props
            .files
            .iter()
            .rev()
            .take(counts.1.saturating_sub(before.1));
        let sent_by_me =
            added_messages.clone().any(|m| m.from_me) || added_files.clone().any(|f| f.from_me);
        let from_them = added_messages
            .filter(|m| !m.from_me && m.kind == MessageKind::Chat)
            .count()
            + added_files.filter(|f| !f.from_me).count();
        // After every render: a new message, a card that grew (progress, an error), the history loading.
        use_effect(move || {
            *seen.borrow_mut() = counts;
            if sent_by_me {
                *follow.borrow_mut() = true;
            }
            if let Some(el) = list_ref.cast::<web_sys::Element>() {
                if let Some(below) = restore.borrow_mut().take() {
                    el.set_scroll_top(el.scroll_height() - below);
                }
                if *follow.borrow() {
                    el.set_scroll_top(el.scroll_height());
                } else if from_them > 0 {
                    unseen.set(*unseen + from_them);
                }
            }
            if let Some(key) = pending_jump.borrow_mut().take() {
                show_message(&key);
            }
        });
    }
    // A quote was pressed: show the message it quotes, first adding the earlier messages down to it if needed.
    let on_jump = {
        let follow = follow.clone();
        let hidden_cell = hidden_cell.clone();
        let pending_jump = pending_jump.clone();
        let redraw = redraw.clone();
        use_memo((), move |_| {
            Callback::from(move |key: String| {
                let Some(index) = latest.borrow().iter().position(|m| m.id == key) else {
                    return;
                };
                // The person reads up there now: arriving messages wait behind the button.
                *follow.borrow_mut() = false;
                let hidden = hidden_cell.borrow().unwrap_or(0);
                if index < hidden {
                    *hidden_cell.borrow_mut() = Some(index.saturating_sub(JUMP_CONTEXT));
                    *pending_jump.borrow_mut() = Some(key);
                    redraw.force_update();
                } else {
                    show_message(&key);
                }
            })
        })
    };
    // Keeps the newest message in view, while following: after a change of size without a render (below), and for
    // the cards, which re-render by themselves.
    let keep_newest = {
        let list_ref = list_ref.clone();
        let follow = follow.clone();
        use_memo((), move |_| {
            KeepNewest(Callback::from(move |()| {
                if let Some(el) = list_ref
                    .cast::<web_sys::Element>()
                    .filter(|_| *follow.borrow())
                {
                    el.set_scroll_top(el.scroll_height());
                }
            }))
        })
    };
    {
        // Without a render, while following: a picture preview that finishes loading makes its card taller, and
        // the conversation itself gets shorter when the composer grows or a phone's keyboard opens.
        let list_ref = list_ref.clone();
        let keep = keep_newest.clone();
        use_effect_with((), move |_| {
            let el = list_ref.cast::<web_sys::Element>();
            let keep_to_newest =
                wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || keep.0.emit(()));
            let resized = el.as_ref().and_then(|el| {
                let observer =
                    web_sys::ResizeObserver::new(keep_to_newest.as_ref().unchecked_ref()).ok()?;
                observer.observe(el);
                Some(observer)
            });
            if let Some(el) = &el {
                // `load` does not bubble: listen while it goes down (capture).
                let _ = el.add_event_listener_with_callback_and_bool(
                    "load",
                    keep_to_newest.as_ref().unchecked_ref(),
                    true,
                );
            }
            move || {
                if let Some(observer) = resized {
                    observer.disconnect();
                }
                if let Some(el) = &el {
                    let _ = el.remove_event_listener_with_callback_and_bool(
                        "load",
                        keep_to_newest.as_ref().unchecked_ref(),
                        true,
                    );
                }
                drop(keep_to_newest);
            }
        });
    }
    let onscroll = {
        let follow = follow.clone();
        let unseen = unseen.clone();
        Callback::from(move |e: Event| {
            let el: web_sys::Element = e.target_unchecked_into();
            let at_bottom = gap_to_bottom(&el) <= BOTTOM_SLACK_PX;
            *follow.borrow_mut() = at_bottom;
            if at_bottom && *unseen > 0 {
                unseen.set(0);
            }
        })
    };
    let jump = {
        let list_ref = list_ref.clone();
        let follow = follow.clone();
        let unseen = unseen.clone();
        Callback::from(move |_| {
            *follow.borrow_mut() = true;
            unseen.set(0);
            if let Some(el) = list_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
            // Keyboard users land in the conversation, where the arrow keys scroll on.
            focus(&list_ref);
        })
    };
    let jump_button = match *unseen {
        0 => html! {},
        n => html! {
            <button class="jump" onclick={jump}>
                <span aria-hidden="true">{ "↓ " }</span>
                { if n == 1 { "1 new message".to_string() } else { format!("{n} new messages") } }
            </button>
        },
    };

    // Every child of the list has a key, and the list holds nothing else: yew then matches rows by key. One child
    // without a key (as an `if` block beside them is) makes it match them by position from the end, so each new
    // message rebuilt every row of the conversation.
    let mut items = Vec::with_capacity((props.messages.len() + props.files.len()) * 2 + 1);
    if props.loaded && props.messages.is_empty() && props.files.is_empty() {
        items.push(html! {
            <li class="empty" key="empty">{
                if props.connected { "No messages yet. Say hello." } else { "No messages yet. Say hello once you're connected." }
            }</li>
        });
    }
    // The newest messages, and the files from their time on.
    let count = props.messages.len();
    let first_page = count.saturating_sub(PAGE_MESSAGES);
    let remembered = *hidden_cell.borrow();
    let hidden = match (props.loaded, remembered) {
        // (Kept no larger than the conversation, should it ever get shorter.)
        (_, Some(n)) => {
            let mut n = n.min(count);
            // A conversation left open keeps growing. While the person follows the newest messages, the oldest
            // shown ones go back behind the button once twice a page is shown.
            if *follow.borrow() && count - n > 2 * PAGE_MESSAGES {
                n = first_page;
            }
            *hidden_cell.borrow_mut().insert(n)
        }
        (true, None) => *hidden_cell.borrow_mut().insert(first_page),
        (false, None) => first_page,
    };
    let shown = &props.messages[hidden..];
    let since = shown.first().filter(|_| hidden > 0).map(|m| m.ts);
    if hidden > 0 {
        let onclick = {
            let hidden_cell = hidden_cell.clone();
            let redraw = redraw.clone();
            let restore = restore.clone();
            let list_ref = list_ref.clone();
            let follow = follow.clone();
            Callback::from(move |_: MouseEvent| {
                // The person reads further up now (even if the list had not seen a scroll yet).
                *follow.borrow_mut() = false;
                if let Some(el) = list_ref.cast::<web_sys::Element>() {
                    *restore.borrow_mut() = Some(el.scroll_height() - el.scroll_top());
                }
                *hidden_cell.borrow_mut() = Some(hidden.saturating_sub(PAGE_MESSAGES));
                redraw.force_update();
            })
        };
        items.push(html! {
            <li class="earlier" key="earlier">
                <button class="link" {onclick}>{ "Show earlier messages" }</button>
                { format!(" ({hidden} more)") }
            </li>
        });
    }
    let mut last_day = None;
    let mut days = time::Days::default();
    // Messages keep their order; each file goes before the first message that is newer than it.
    let mut files = props
        .files
        .iter()
        .filter(|f| since.is_none_or(|since| f.ts >= since))
        .peekable();
    let push_file = |items: &mut Vec<Html>,
                     last_day: &mut Option<(u32, u32, u32)>,
                     days: &mut time::Days,
                     f: &FileItem| {
        let day = days.key(f.ts);
        if *last_day != Some(day) {
            *last_day = Some(day);
            items.push(html! {
                <li class="day" key={format!("day-{}-{}-{}", day.0, day.1, day.2)}>
                    <span>{ time::day(f.ts) }</span>
                </li>
            });
        }
        items.push(html! {
            <TransferCard key={format!("file-{}", f.id)} item={f.clone()} peer={props.peer.clone()}
                connected={props.connected} held={props.files_held} on_command={props.on_file.clone()}
                live={props.live.clone()} />
        });
    };
    // The messages that quotes point to, by key: only built when a shown message quotes one.
    let by_key: Option<HashMap<&str, &Rc<StoredMessage>>> = shown
        .iter()
        .any(|m| m.reply_to.is_some())
        .then(|| props.messages.iter().map(|m| (m.id.as_str(), m)).collect());
    for m in shown {
        while let Some(f) = files.next_if(|f| f.ts < m.ts) {
            push_file(&mut items, &mut last_day, &mut days, f);
        }
        let day = days.key(m.ts);
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(html! {
                <li class="day" key={format!("day-{}-{}-{}", day.0, day.1, day.2)}>
                    <span>{ time::day(m.ts) }</span>
                </li>
            });
        }
        let quote =
            m.reply_to
                .as_deref()
                .map(|key| match by_key.as_ref().and_then(|all| all.get(key)) {
                    Some(q) => Quote::Found(Rc::clone(q)),
                    None => Quote::Missing,
                });
        items.push(html! {
            <MessageRow key={m.id.clone()} message={m.clone()} {quote} peer={props.peer.clone()}
                connected={props.connected} on_reply={props.on_reply.clone()} on_edit={props.on_edit.clone()}
                on_delete={props.on_delete.clone()} on_jump={(*on_jump).clone()} />
        });
    }
    for f in files {
        push_file(&mut items, &mut last_day, &mut days, f);
    }

    html! {
        <ContextProvider<KeepNewest> context={(*keep_newest).clone()}>
            // The log scrolls; the list inside it keeps its list semantics (a list item's parent must be a list,
            // which an element with the role "log" no longer is).
            <div class="messages" ref={list_ref} role="log" aria-label="Messages" aria-live="polite"
                tabindex="0" {onscroll}>
                <ol class="message-items">{ for items }</ol>
            </div>
            { jump_button }
        </ContextProvider<KeepNewest>>
    }
}

/// The message a reply answers, as this browser has it.
#[derive(Clone, PartialEq)]
enum Quote {
    Found(Rc<StoredMessage>),
    /// Not in this conversation (cleared on this side, or a key no message of ours has).
    Missing,
}

#[derive(Properties, PartialEq)]
struct MessageRowProps {
    message: Rc<StoredMessage>,
    quote: Option<Quote>,
    peer: AttrValue,
    /// Deleting for both needs the other person here.
    connected: bool,
    on_reply: Callback<Rc<StoredMessage>>,
    on_edit: Callback<Rc<StoredMessage>>,
    on_delete: Callback<(Rc<StoredMessage>, Deletion)>,
    on_jump: Callback<String>,
}

/// How much of a quoted message shows above a reply, in characters.
const QUOTE_CHARS: usize = 140;

/// One message. A component of its own so that the list re-rendering (a message arriving, a file changing phase)
/// leaves unchanged messages alone instead of formatting every time and date again.
#[function_component(MessageRow)]
fn message_row(props: &MessageRowProps) -> Html {
    let m = &props.message;
    // "Delete" asks first, in the message itself.
    let confirming = use_state(|| false);
    let confirm_ref = use_node_ref();
    let delete_ref = use_node_ref();
    {
        // The question takes the focus (its first button); closing it gives it back to "Delete".
        let confirm_ref = confirm_ref.clone();
        use_effect_with(*confirming, move |open| {
            if *open {
                if let Some(button) = confirm_ref
                    .cast::<web_sys::Element>()
                    .and_then(|el| el.query_selector("button:not(:disabled)").ok().flatten())
                    .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = button.focus();
                }
            }
        });
    }
    let when = html! {
        <time datetime={time::iso(m.ts)} title={time::when(m.ts)}>{ time::clock(m.ts) }</time>
    };
    match m.kind {
        MessageKind::System => html! {
            <li class="system">
                <span>{ &m.text }</span>{ " · " }{ when }
            </li>
        },
        MessageKind::Chat => {
            let class = if m.from_me { "msg mine" } else { "msg theirs" };
            let author = if m.from_me {
                "You".to_string()
            } else {
                m.author.clone()
            };
            let quote = match &props.quote {
                None => html! {},
                Some(Quote::Found(q)) if q.deleted => html! {
                    <p class="quote missing">{ "In reply to a deleted message" }</p>
                },
                Some(Quote::Found(q)) => {
                    let onclick = {
                        let key = q.id.clone();
                        props.on_jump.reform(move |_: MouseEvent| key.clone())
                    };
                    let who = if q.from_me {
                        "You".to_string()
                    } else {
                        q.author.clone()
                    };
                    let text = excerpt(&q.text, QUOTE_CHARS);
                    let label = format!("In reply to {who}: {text}");
                    html! {
                        <button type="button" class="quote" title="Show this message" aria-label={label} {onclick}>
                            // (The space keeps the two words apart for tools that read the text in one line.)
                            <span class="quote-author">{ who }</span>{ " " }
                            <span class="quote-text">{ text }</span>
                        </button>
                    }
                }
                Some(Quote::Missing) => html! {
                    <p class="quote missing">{ "In reply to a message that is no longer in this conversation" }</p>
                },
            };
            let on_reply = {
                let m = m.clone();
                props.on_reply.reform(move |_: MouseEvent| m.clone())
            };
            let on_edit = {
                let m = m.clone();
                props.on_edit.reform(move |_: MouseEvent| m.clone())
            };
            let ask = {
                let confirming = confirming.clone();
                Callback::from(move |_: MouseEvent| confirming.set(true))
            };
            let close = {
                let confirming = confirming.clone();
                let delete_ref = delete_ref.clone();
                move || {
                    confirming.set(false);
                    crate::components::focus(&delete_ref);
                }
            };
            let delete = |how: Deletion| {
                let m = m.clone();
                let confirming = confirming.clone();
                props.on_delete.reform(move |_: MouseEvent| {
                    confirming.set(false);
                    (m.clone(), how)
                })
            };
            let on_cancel = {
                let close = close.clone();
                Callback::from(move |_: MouseEvent| close())
            };
            let on_key = Callback::from(move |e: KeyboardEvent| {
                if e.key() == "Escape" {
                    e.prevent_default();
                    close();
                }
            });
            let for_both = m.from_me && !m.deleted;
            let whose = if m.from_me {
                format!("your message: {}", excerpt(&m.text, 40))
            } else {
                format!("{author}: {}", excerpt(&m.text, 40))
            };
            let confirm = html! {
                <div class="confirm-delete" role="group" aria-label="Delete this message" ref={confirm_ref.clone()}
                    onkeydown={on_key}>
                    <p>{ "Delete this message?" }</p>
                    <div class="confirm-actions">
                        if for_both {
                            <button type="button" class="danger" disabled={!props.connected}
                                onclick={delete(Deletion::ForEveryone)}>{ "Delete for everyone" }</button>
                        }
                        <button type="button" onclick={delete(Deletion::ForMe)}>{ "Delete for me" }</button>
                        <button type="button" onclick={on_cancel}>{ "Cancel" }</button>
                    </div>
                    if for_both {
                        <p class="confirm-note">{
                            if props.connected {
                                format!("Delete for everyone also asks {}'s browser to delete its copy.", props.peer)
                            } else {
                                format!("Delete for everyone needs {} here.", props.peer)
                            }
                        }</p>
                    }
                </div>
            };
            let class = classes!(class, m.deleted.then_some("deleted"));
            html! {
                <li {class} id={row_id(&m.id)}>
                    <div class="bubble">
                        <span class="author">{ author.clone() }</span>
                        if m.deleted {
                            <p class="text gone">{
                                if m.from_me { "You deleted this message." } else { "This message was deleted." }
                            }</p>
                        } else {
                            { quote }
                            // Peer text is rendered as text nodes, never parsed as HTML; web addresses become
                            // links whose text is the address itself.
                            <p class="text">{ for linkify::segments(&m.text).into_iter().map(|s| match s {
                                Segment::Text(t) => html! { { t } },
                                Segment::Link(url) => html! {
                                    <a href={url.to_string()} target="_blank" rel="noopener noreferrer nofollow">{ url }</a>
                                },
                            }) }</p>
                        }
                        <span class="meta">
                            { when }
                            if m.edited && !m.deleted {
                                <span class="edited" title="Changed after it was sent">{ " · edited" }</span>
                            }
                            if m.from_me && !m.deleted {
                                if m.delivered {
                                    <span class="tick delivered" title="Delivered">{ " ✓✓ Delivered" }</span>
                                } else {
                                    <span class="tick" title="Sent, not yet confirmed">{ " ✓ Sent" }</span>
                                }
                            }
                            // Named in full for screen readers, which list the conversation's buttons one after
                            // another. (An aria-label, not hidden text: hidden text is positioned, and a few per row
                            // made every change of a long conversation lay all of them out again.)
                            if !m.deleted {
                                <button type="button" class="message-action" onclick={on_reply}
                                    aria-label={format!("Reply to {whose}")}>{ "Reply" }</button>
                            }
                            // Changing a message needs the other person here, to tell them.
                            if m.from_me && !m.deleted && props.connected {
                                <button type="button" class="message-action" onclick={on_edit}
                                    aria-label={format!("Edit {whose}")}>{ "Edit" }</button>
                            }
                            <button type="button" class="message-action" onclick={ask} ref={delete_ref.clone()}
                                aria-expanded={(*confirming).to_string()}
                                aria-label={if m.deleted {
                                    "Delete what is left of a deleted message".to_string()
                                } else {
                                    format!("Delete {whose}")
                                }}>{ "Delete" }</button>
                        </span>
                        if *confirming { { confirm } }
                    </div>
                </li>
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::excerpt;

    #[wasm_bindgen_test]
    fn an_excerpt_is_one_line_and_cut_at_a_character() {
        assert_eq!(excerpt("  Which\n day\tworks? ", 40), "Which day works?");
        assert_eq!(excerpt("abc def ghi", 6), "abc de…");
        assert_eq!(excerpt("abc def", 4), "abc…");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
        assert_eq!(excerpt("", 3), "");
    }
}
