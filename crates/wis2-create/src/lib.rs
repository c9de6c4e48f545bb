//! wis2-create
