//! The conversation: day separators, mine vs theirs, time, delivered ticks, system notices.

use yew::prelude::*;

use crate::components::transfer_card::TransferCard;
use crate::files::view::FileItem;
use crate::files::FileCommand;
use crate::linkify::{self, Segment};
use crate::storage::{MessageKind, StoredMessage};
use crate::time;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub messages: Vec<StoredMessage>,
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
}

#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list_ref = use_node_ref();
    {
        let list_ref = list_ref.clone();
        use_effect_with((props.messages.len(), props.files.len()), move |_| {
            if let Some(el) = list_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }

    let mut items = Vec::with_capacity((props.messages.len() + props.files.len()) * 2);
    let mut last_day = None;
    // Messages keep their order; each file goes before the first message that is newer than it.
    let mut files = props.files.iter().peekable();
    let push_file = |items: &mut Vec<Html>,
                     last_day: &mut Option<(u32, u32, u32)>,
                     f: &FileItem| {
        let day = time::day_key(f.ts);
        if *last_day != Some(day) {
            *last_day = Some(day);
            items.push(html! {
                <li class="day" key={format!("day-{}-{}-{}", day.0, day.1, day.2)} role="separator">
                    <span>{ time::day(f.ts) }</span>
                </li>
            });
        }
        items.push(html! {
            <TransferCard key={format!("file-{}", f.id)} item={f.clone()} peer={props.peer.clone()}
                connected={props.connected} held={props.files_held} on_command={props.on_file.clone()} />
        });
    };
    for m in &props.messages {
        while let Some(f) = files.next_if(|f| f.ts < m.ts) {
            push_file(&mut items, &mut last_day, f);
        }
        let day = time::day_key(m.ts);
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(html! {
                <li class="day" key={format!("day-{}-{}-{}", day.0, day.1, day.2)} role="separator">
                    <span>{ time::day(m.ts) }</span>
                </li>
            });
        }
        items.push(html! { <MessageRow key={m.id.clone()} message={m.clone()} /> });
    }
    for f in files {
        push_file(&mut items, &mut last_day, f);
    }

    html! {
        <ol class="messages" ref={list_ref} role="log" aria-label="Messages" aria-live="polite">
            if props.loaded && props.messages.is_empty() && props.files.is_empty() {
                <li class="empty" key="empty">{ "No messages yet. Say hello once you're connected." }</li>
            }
            { for items }
        </ol>
    }
}

#[derive(Properties, PartialEq)]
struct MessageRowProps {
    message: StoredMessage,
}

/// One message. A component of its own so that the list re-rendering (4 times a second while a file moves)
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
