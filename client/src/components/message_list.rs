//! The conversation: day separators, mine vs theirs, time, delivered ticks, system notices.

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
    {
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
        });
    }
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
        items.push(html! { <MessageRow key={m.id.clone()} message={m.clone()} /> });
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

#[derive(Properties, PartialEq)]
struct MessageRowProps {
    message: Rc<StoredMessage>,
}

/// One message. A component of its own so that the list re-rendering (a message arriving, a file changing phase)
/// leaves unchanged messages alone instead of formatting every time and date again.
#[function_component(MessageRow)]
fn message_row(props: &MessageRowProps) -> Html {
    let m = &props.message;
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
            html! {
                <li {class}>
                    <div class="bubble">
                        <span class="author">{ author }</span>
                        // Peer text is rendered as text nodes, never parsed as HTML; web addresses become links
                        // whose text is the address itself.
                        <p class="text">{ for linkify::segments(&m.text).into_iter().map(|s| match s {
                            Segment::Text(t) => html! { { t } },
                            Segment::Link(url) => html! {
                                <a href={url.to_string()} target="_blank" rel="noopener noreferrer nofollow">{ url }</a>
                            },
                        }) }</p>
                        <span class="meta">
                            { when }
                            if m.from_me {
                                if m.delivered {
                                    <span class="tick delivered" title="Delivered">{ " ✓✓ Delivered" }</span>
                                } else {
                                    <span class="tick" title="Sent, not yet confirmed">{ " ✓ Sent" }</span>
                                }
                            }
                        </span>
                    </div>
                </li>
            }
        }
    }
}
