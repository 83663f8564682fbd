//! What the file cards show: one [`FileItem`] per transfer of the room, and the sentences about files that were
//! not sent. A pure reducer: the driver ([`super::FilesDriver`]) does the IO and dispatches [`FilesAction`]s.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use twain_protocol::transfer::TransferState;
use yew::{Callback, Reducible};

use crate::storage::{FileRecord, FileState};

/// Where a transfer stands, as the card shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Outgoing: computing the file's SHA-256 before offering it (`done` counts hashed bytes).
    Preparing,
    /// Outgoing: other files go first.
    Queued,
    /// Outgoing: offered; waiting for the other side to accept it (or to come back).
    WaitingForPeer,
    Sending,
    /// Outgoing: every byte sent; the other side is storing and checking it.
    Confirming,
    Receiving,
    /// Incoming: every byte stored; checking its SHA-256.
    Verifying,
    /// Incoming: the sender no longer has the file open. What arrived is kept; it can be asked for again.
    Interrupted,
    /// Outgoing, from before this page was reloaded: the file is no longer open here.
    Orphaned,
    /// Incoming: stored and verified.
    Received,
    /// Outgoing: the other side stored and verified it.
    Delivered,
    /// Ended without delivery because something failed; the sentence says what.
    Failed(String),
    /// Ended without delivery because someone cancelled; the sentence says who.
    Cancelled(String),
}

impl Phase {
    /// Still moving (or able to move again): shows progress and a Cancel button.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Phase::Preparing
                | Phase::Queued
                | Phase::WaitingForPeer
                | Phase::Sending
                | Phase::Confirming
                | Phase::Receiving
                | Phase::Verifying
                | Phase::Interrupted
        )
    }

    pub fn from_engine(state: TransferState) -> Phase {
        match state {
            TransferState::Queued => Phase::Queued,
            TransferState::WaitingForPeer => Phase::WaitingForPeer,
            TransferState::Sending => Phase::Sending,
            TransferState::Confirming => Phase::Confirming,
            TransferState::Receiving => Phase::Receiving,
            TransferState::Verifying => Phase::Verifying,
            TransferState::Interrupted => Phase::Interrupted,
        }
    }
}

/// One file in the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct FileItem {
    /// Transfer id, 32 hex digits.
    pub id: String,
    /// Name as announced (display only).
    pub name: String,
    /// Name to save a received file under (sanitized).
    pub download_name: String,
    pub size: u64,
    pub from_me: bool,
    /// When it was picked or first announced: orders it among the messages.
    pub ts: f64,
    pub phase: Phase,
    /// Bytes hashed (preparing), handed to the channel (sending) or received (receiving). While the transfer is in
    /// flight, [`LiveProgress`] has newer figures than this.
    pub done: u64,
    /// Smoothed bytes per second, once measured.
    pub rate: Option<f64>,
    pub seconds_left: Option<f64>,
    /// Outgoing, while this page has it open: the picked file.
    pub local: Option<web_sys::File>,
    /// The image type sniffed from the content, when it is an image worth previewing.
    pub image: Option<&'static str>,
}

impl FileItem {
    /// A stored transfer as it stands after a reload (the engine updates restored incoming ones).
    pub fn from_record(r: &FileRecord) -> FileItem {
        let phase = match (r.from_me, r.state) {
            (true, FileState::Complete) => Phase::Delivered,
            (false, FileState::Complete) => Phase::Received,
            (_, FileState::Failed) => Phase::Failed(
                r.message
                    .clone()
                    .unwrap_or_else(|| "The transfer failed.".into()),
            ),
            (_, FileState::Cancelled) => Phase::Cancelled(
                r.message
                    .clone()
                    .unwrap_or_else(|| "The transfer was cancelled.".into()),
            ),
            (true, _) => Phase::Orphaned,
            (false, _) => Phase::Receiving,
        };
        let download_name = if r.download_name.is_empty() {
            twain_protocol::transfer::sanitize_file_name(&r.name)
        } else {
            r.download_name.clone()
        };
        FileItem {
            id: r.transfer_id.clone(),
            name: r.name.clone(),
            download_name,
            size: r.size as u64,
            from_me: r.from_me,
            ts: r.created_ms,
            phase,
            done: r.bytes_done as u64,
            rate: None,
            seconds_left: None,
            local: None,
            image: None,
        }
    }

    /// Whole percent done, 0..=100 (an empty file is 100 % once anything happened to it).
    pub fn percent(&self) -> u32 {
        if self.size == 0 {
            return if self.phase == Phase::Preparing {
                0
            } else {
                100
            };
        }
        ((self.done.min(self.size) as f64 * 100.0 / self.size as f64).floor()) as u32
    }
}

/// A progress refresh of one transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    pub id: String,
    pub phase: Phase,
    pub done: u64,
    pub rate: Option<f64>,
    pub seconds_left: Option<f64>,
}

/// Who watches each transfer's progress: (watch key, callback) by transfer id.
type Watchers = HashMap<String, Vec<(u64, Callback<()>)>>;

/// The newest progress of the transfers in flight, handed straight to the cards that show them.
///
/// Progress changes four times a second per transfer. Going through [`FilesView`] would render the whole
/// conversation each time (thousands of rows in a long one); here only the card re-renders. Phase changes still go
/// through [`FilesView`], because they change what the conversation shows.
#[derive(Default)]
pub struct LiveProgress {
    latest: RefCell<HashMap<String, ProgressUpdate>>,
    watchers: RefCell<Watchers>,
    next_watch: Cell<u64>,
}

impl LiveProgress {
    /// Records updates and tells the cards that watch them.
    pub fn publish(&self, updates: Vec<ProgressUpdate>) {
        let mut tell = Vec::new();
        {
            let mut latest = self.latest.borrow_mut();
            let watchers = self.watchers.borrow();
            for u in updates {
                if let Some(list) = watchers.get(&u.id) {
                    tell.extend(list.iter().map(|(_, cb)| cb.clone()));
                }
                latest.insert(u.id.clone(), u);
            }
        }
        // Outside the borrows: a card may render (and read `latest`) right away.
        for cb in tell {
            cb.emit(());
        }
    }

    /// Forgets a transfer that ended or went away.
    pub fn forget(&self, id: &str) {
        self.latest.borrow_mut().remove(id);
    }

    /// Forgets every transfer not in `keep`.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.latest.borrow_mut().retain(|id, _| keep(id));
    }

    #[cfg(test)]
    pub fn latest(&self, id: &str) -> Option<ProgressUpdate> {
        self.latest.borrow().get(id).cloned()
    }

    /// `item` with its newest progress: done, rate and time left, while it is in flight. (Its phase comes from
    /// [`FilesView`]: an ended transfer keeps what it ended with.)
    pub fn apply(&self, item: &FileItem) -> FileItem {
        let mut item = item.clone();
        if item.phase.is_active() || item.phase == Phase::Orphaned {
            if let Some(u) = self.latest.borrow().get(&item.id) {
                item.done = u.done;
                item.rate = u.rate;
                item.seconds_left = u.seconds_left;
            }
        }
        item
    }

    /// Calls `changed` after each update of transfer `id`, until the returned [`Watch`] is dropped.
    pub fn watch(self: &Rc<Self>, id: &str, changed: Callback<()>) -> Watch {
        let key = self.next_watch.get();
        self.next_watch.set(key + 1);
        self.watchers
            .borrow_mut()
            .entry(id.to_string())
            .or_default()
            .push((key, changed));
        Watch {
            live: Rc::downgrade(self),
            id: id.to_string(),
            key,
        }
    }
}

/// A card's subscription to [`LiveProgress`]; dropping it ends it.
pub struct Watch {
    live: Weak<LiveProgress>,
    id: String,
    key: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(live) = self.live.upgrade() else {
            return;
        };
        let mut watchers = live.watchers.borrow_mut();
        if let Some(list) = watchers.get_mut(&self.id) {
            list.retain(|(key, _)| *key != self.key);
            if list.is_empty() {
                watchers.remove(&self.id);
            }
        }
    }
}

/// [`LiveProgress`] as a component property: equal when it is the same one.
#[derive(Clone, Default)]
pub struct LiveHandle(pub Rc<LiveProgress>);

impl PartialEq for LiveHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilesView {
    /// Oldest first.
    pub items: Vec<FileItem>,
    pub loaded: bool,
    /// Sentences about files that were not sent (too big, not connected...) or file errors, oldest first.
    pub notices: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum FilesAction {
    /// The room's stored transfers; items added meanwhile stay.
    Loaded(Vec<FileItem>),
    /// A new item, or a new version of one (its time and open file are kept when the new one lacks them).
    Upsert(FileItem),
    /// A transfer's phase changed (events from the engine).
    Phase {
        id: String,
        phase: Phase,
    },
    Progress(Vec<ProgressUpdate>),
    /// An item was replaced by another transfer of the same file (resuming it): drop it.
    Remove(String),
    Notice(String),
    DismissNotice(usize),
}

/// At most this many notices are kept (the oldest go first).
const MAX_NOTICES: usize = 5;

impl Reducible for FilesView {
    type Action = FilesAction;

    fn reduce(self: Rc<Self>, action: FilesAction) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            FilesAction::Loaded(items) => {
                for item in items {
                    if !s.items.iter().any(|x| x.id == item.id) {
                        s.items.push(item);
                    }
                }
                s.loaded = true;
            }
            FilesAction::Upsert(item) => match s.items.iter_mut().find(|x| x.id == item.id) {
                Some(existing) => {
                    let ts = existing.ts;
                    let local = existing.local.take();
                    let image = existing.image;
                    *existing = item;
                    existing.ts = ts;
                    if existing.local.is_none() {
                        existing.local = local;
                    }
                    existing.image = existing.image.or(image);
                }
                None => s.items.push(item),
            },
            FilesAction::Phase { id, phase } => {
                if let Some(item) = s.items.iter_mut().find(|x| x.id == id) {
                    if matches!(phase, Phase::Received | Phase::Delivered) {
                        item.done = item.size;
                    }
                    if !phase.is_active() {
                        item.rate = None;
                        item.seconds_left = None;
                    }
                    item.phase = phase;
                }
            }
            FilesAction::Progress(updates) => {
                for u in updates {
                    if let Some(item) = s.items.iter_mut().find(|x| x.id == u.id) {
                        // A late refresh never revives an ended transfer.
                        if item.phase.is_active() || item.phase == Phase::Orphaned {
                            item.phase = u.phase;
                            item.done = u.done;
                            item.rate = u.rate;
                            item.seconds_left = u.seconds_left;
                        }
                    }
                }
            }
            FilesAction::Remove(id) => s.items.retain(|x| x.id != id),
            FilesAction::Notice(text) => {
                // A peer repeating a bad frame shows one sentence, not a stack of them.
                s.notices.retain(|n| *n != text);
                s.notices.push(text);
                if s.notices.len() > MAX_NOTICES {
                    s.notices.remove(0);
                }
            }
            FilesAction::DismissNotice(i) => {
                if i < s.notices.len() {
                    s.notices.remove(i);
                }
            }
        }
        s.items
            .sort_by(|a, b| a.ts.total_cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        Rc::new(s)
    }
}

#[cfg(test)]
mod tests {
    // Plain `#[test]`s are not run on wasm32: the wasm-bindgen test runner needs its attribute.
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    fn item(id: &str, ts: f64, phase: Phase) -> FileItem {
        FileItem {
            id: id.into(),
            name: format!("{id}.bin"),
            download_name: format!("{id}.bin"),
            size: 1000,
            from_me: false,
            ts,
            phase,
            done: 0,
            rate: None,
            seconds_left: None,
            local: None,
            image: None,
        }
    }

    fn reduce(view: FilesView, actions: Vec<FilesAction>) -> FilesView {
        let mut view = Rc::new(view);
        for a in actions {
            view = view.reduce(a);
        }
        (*view).clone()
    }

    fn update(id: &str, phase: Phase, done: u64) -> ProgressUpdate {
        ProgressUpdate {
            id: id.into(),
            phase,
            done,
            rate: Some(10.0),
            seconds_left: Some(1.0),
        }
    }

    #[wasm_bindgen_test]
    fn items_stay_in_time_order_and_keep_their_first_time() {
        let view = reduce(
            FilesView::default(),
            vec![
                FilesAction::Upsert(item("b", 20.0, Phase::Receiving)),
                FilesAction::Loaded(vec![
                    item("a", 10.0, Phase::Received),
                    item("b", 5.0, Phase::Receiving),
                ]),
                FilesAction::Upsert(FileItem {
                    image: Some("image/png"),
                    ..item("a", 99.0, Phase::Received)
                }),
            ],
        );
        assert!(view.loaded);
        let order: Vec<_> = view.items.iter().map(|i| (i.id.as_str(), i.ts)).collect();
        assert_eq!(order, [("a", 10.0), ("b", 20.0)]);
        assert_eq!(view.items[0].image, Some("image/png"));
    }

    #[wasm_bindgen_test]
    fn a_late_progress_refresh_never_revives_an_ended_transfer() {
        let view = reduce(
            FilesView::default(),
            vec![
                FilesAction::Upsert(item("a", 1.0, Phase::Receiving)),
                FilesAction::Progress(vec![update("a", Phase::Receiving, 500)]),
                FilesAction::Phase {
                    id: "a".into(),
                    phase: Phase::Received,
                },
                FilesAction::Progress(vec![update("a", Phase::Verifying, 900)]),
            ],
        );
        let a = &view.items[0];
        assert_eq!(a.phase, Phase::Received);
        assert_eq!((a.done, a.rate, a.percent()), (1000, None, 100));
    }

    #[wasm_bindgen_test]
    fn live_progress_reaches_only_the_cards_that_watch_it() {
        let live = Rc::new(LiveProgress::default());
        let calls = Rc::new(Cell::new(0));
        let counter = |calls: &Rc<Cell<u32>>| {
            let calls = calls.clone();
            Callback::from(move |()| calls.set(calls.get() + 1))
        };
        let other_calls = Rc::new(Cell::new(0));
        let watch = live.watch("a", counter(&calls));
        let _other = live.watch("b", counter(&other_calls));

        live.publish(vec![update("a", Phase::Receiving, 400)]);
        assert_eq!((calls.get(), other_calls.get()), (1, 0));
        assert_eq!(live.latest("a").map(|u| u.done), Some(400));

        // A card in flight shows the newest figures; the view's copy may be older.
        let card = live.apply(&item("a", 1.0, Phase::Receiving));
        assert_eq!(
            (card.done, card.rate, card.percent()),
            (400, Some(10.0), 40)
        );
        // An ended transfer keeps what it ended with.
        let mut ended = item("a", 1.0, Phase::Received);
        ended.done = 1000;
        assert_eq!(live.apply(&ended), ended);
        // No figures yet: the view's.
        assert_eq!(
            live.apply(&item("c", 1.0, Phase::Sending)),
            item("c", 1.0, Phase::Sending)
        );

        // A dropped watch is no longer called; forgotten figures are gone.
        drop(watch);
        live.publish(vec![update("a", Phase::Receiving, 500)]);
        assert_eq!(calls.get(), 1);
        live.retain(|id| id != "a");
        assert_eq!(live.latest("a"), None);
        live.publish(vec![update("b", Phase::Sending, 1)]);
        live.forget("b");
        assert_eq!((other_calls.get(), live.latest("b")), (1, None));
    }

    #[wasm_bindgen_test]
    fn percentages_and_notices() {
        let mut empty = item("e", 1.0, Phase::Preparing);
        empty.size = 0;
        assert_eq!(empty.percent(), 0);
        empty.phase = Phase::Sending;
        assert_eq!(empty.percent(), 100);
        let mut half = item("h", 1.0, Phase::Sending);
        half.done = 499;
        assert_eq!(half.percent(), 49);

        let notices: Vec<_> = (0..7)
            .map(|i| FilesAction::Notice(format!("n{i}")))
            .collect();
        let view = reduce(FilesView::default(), notices);
        assert_eq!(view.notices, ["n2", "n3", "n4", "n5", "n6"]);
        let view = reduce(
            view,
            vec![
                FilesAction::DismissNotice(0),
                FilesAction::DismissNotice(9),
                FilesAction::Notice("n4".into()),
            ],
        );
        assert_eq!(view.notices, ["n3", "n5", "n6", "n4"]);
    }
}
