//! One file per view.

pub mod composer;
pub mod landing;
pub mod message_list;
pub mod rename;
pub mod room;
