//! wis2-watch
