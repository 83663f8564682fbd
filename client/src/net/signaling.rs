//! The signaling WebSocket to the worker: connect, send typed frames, report frames and closes.
//!
//! Reconnecting is the session's job ([`super::session`]); this type is one socket, and dropping it closes the
//! socket and releases every JS closure it registered.

use std::rc::Rc;

use twain_protocol::signal::{ClientFrame, ServerFrame};
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What the socket reports.
#[derive(Debug)]
pub enum SignalEvent {
    Open,
    Frame(ServerFrame),
    /// A frame from the worker that could not be read (a bug or a newer worker).
    Unreadable(String),
    Closed {
        code: u16,
    },
}

pub struct SignalSocket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// The WebSocket URL for a room on the page's own origin.
pub fn room_url(room_id: &str) -> Result<String, JsValue> {
    let location = web_sys::window().ok_or("no window")?.location();
    let scheme = if location.protocol()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Ok(format!("{scheme}://{}/ws/{room_id}", location.host()?))
}

impl SignalSocket {
    pub fn connect(url: &str, on_event: Rc<dyn Fn(SignalEvent)>) -> Result<Self, JsValue> {
        let ws = WebSocket::new(url)?;
        let cb = on_event.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || cb(SignalEvent::Open));
        let cb = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let event = match e.data().as_string() {
                Some(text) => match ServerFrame::decode(&text) {
                    Ok(frame) => SignalEvent::Frame(frame),
                    Err(err) => SignalEvent::Unreadable(err.to_string()),
                },
                None => SignalEvent::Unreadable("a binary frame".into()),
            };
            cb(event);
        });
        let cb = on_event;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            cb(SignalEvent::Closed { code: e.code() })
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(SignalSocket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends a frame if the socket is open; frames sent while closed are dropped (the session re-sends state
    /// after reconnecting).
    pub fn send(&self, frame: &ClientFrame) {
        if self.ws.ready_state() == WebSocket::OPEN {
            let _ = self.ws.send_with_str(&frame.encode());
        }
    }
}

impl Drop for SignalSocket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
