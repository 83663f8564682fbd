//! One file per view.

pub mod attach;
pub mod call;
pub mod composer;
pub mod landing;
pub mod message_list;
pub mod moderation;
pub mod rename;
pub mod room;
pub mod settings;
pub mod transfer_card;
pub mod verify;
