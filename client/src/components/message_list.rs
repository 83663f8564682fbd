//! The conversation: day separators, mine vs theirs, time, delivered ticks, system notices.

use yew::prelude::*;

use crate::storage::{MessageKind, StoredMessage};
use crate::time;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub messages: Vec<StoredMessage>,
    pub loaded: bool,
}

#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list_ref = use_node_ref();
    {
        let list_ref = list_ref.clone();
        use_effect_with(props.messages.len(), move |_| {
            if let Some(el) = list_ref.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }

    let mut items = Vec::with_capacity(props.messages.len() * 2);
    let mut last_day = None;
    for m in &props.messages {
        let day = time::day_key(m.ts);
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(html! {
                <li class="day" key={format!("day-{}-{}-{}", day.0, day.1, day.2)} role="separator">
                    <span>{ time::day(m.ts) }</span>
                </li>
            });
        }
        items.push(message_item(m));
    }

    html! {
        <ol class="messages" ref={list_ref} role="log" aria-label="Messages" aria-live="polite">
            if props.loaded && props.messages.is_empty() {
                <li class="empty" key="empty">{ "No messages yet. Say hello once you're connected." }</li>
            }
            { for items }
        </ol>
    }
}

fn message_item(m: &StoredMessage) -> Html {
    let when = html! {
        <time datetime={time::iso(m.ts)} title={time::when(m.ts)}>{ time::clock(m.ts) }</time>
    };
    match m.kind {
        MessageKind::System => html! {
            <li class="system" key={m.id.clone()}>
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
                <li class={class} key={m.id.clone()}>
                    <div class="bubble">
                        <span class="author">{ author }</span>
                        // Peer text is rendered as a text node: never parsed as HTML.
                        <p class="text">{ &m.text }</p>
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
